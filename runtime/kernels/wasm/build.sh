#!/bin/sh
# Builds the wasm kernel library: every *.c here, linked into four modules that import their
# memory; the runtime fetches only the one it picks by feature detection:
#   webdnn-kernels-simd128.wasm       SIMD128
#   webdnn-kernels-relaxed.wasm       SIMD128 + relaxed SIMD (fused multiply-add)
#   webdnn-kernels-simd128-mt.wasm    SIMD128, shared memory (threads)
#   webdnn-kernels-relaxed-mt.wasm    SIMD128 + relaxed SIMD, shared memory (threads)
# The -mt modules differ only in importing a shared memory (and being compiled with
# -matomics, which wasm-ld requires for that); the kernels themselves use no atomics.
# Usage: build.sh OUT_DIR [OBJ_DIR]
# Compile and link are two steps on purpose: a one-step clang-19 call would run Debian's
# old wasm-opt, which rejects relaxed SIMD (see docs/backends/wasm.md).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_DIR [OBJ_DIR]}
obj=${2:-$here/../../../build/wasm}
CC=${CLANG:-clang-19}
LD=${WASM_LD:-wasm-ld-19}
mkdir -p "$out"

# variant name, extra compile flags, extra link flags
build() {
  name=$1 cflags=$2 ldflags=$3
  dir="$obj/$name"
  mkdir -p "$dir"
  objs=""
  for src in "$here"/*.c; do
    o="$dir/$(basename "$src" .c).o"
    "$CC" --target=wasm32 -O3 -nostdlib -ffreestanding -msimd128 -mbulk-memory $cflags \
      -Wall -Wextra -Werror -Wno-unused-parameter ${EXTRA_CFLAGS:-} -c "$src" -o "$o"
    objs="$objs $o"
  done
  # Stack first (64 KiB at address 0), then the data, then __heap_base. The runtime gives
  # every thread its own stack above __heap_base by setting the exported __stack_pointer,
  # and places the arena, the weights and the parameter blocks after those stacks.
  # shellcheck disable=SC2086
  "$LD" --no-entry --import-memory --stack-first -z stack-size=65536 --export=__heap_base \
    --export=__stack_pointer $ldflags --strip-all $objs -o "$out/webdnn-kernels-$name.wasm"
  echo "built $out/webdnn-kernels-$name.wasm ($(wc -c < "$out/webdnn-kernels-$name.wasm") bytes)"
}

build simd128 "" ""
build relaxed "-mrelaxed-simd" ""
build simd128-mt "-matomics" "--shared-memory --max-memory=4294967296"
build relaxed-mt "-mrelaxed-simd -matomics" "--shared-memory --max-memory=4294967296"
rm -f "$out/webdnn-kernels.wasm"  # the single-module name of earlier builds
