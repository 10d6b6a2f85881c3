#!/bin/sh
# Builds the wasm kernel library: every *.c here -> one SIMD128 module, importing its memory.
# Usage: build.sh OUT_DIR [OBJ_DIR]   (writes OUT_DIR/webdnn-kernels.wasm)
# Compile and link are two steps on purpose: a one-step clang-19 call would run Debian's
# old wasm-opt (see docs/backends/wasm.md).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_DIR [OBJ_DIR]}
obj=${2:-$here/../../../build/wasm}
CC=${CLANG:-clang-19}
LD=${WASM_LD:-wasm-ld-19}
mkdir -p "$out" "$obj"
objs=""
for src in "$here"/*.c; do
  o="$obj/$(basename "$src" .c).o"
  "$CC" --target=wasm32 -O3 -nostdlib -ffreestanding -msimd128 -mbulk-memory \
    -Wall -Wextra -Werror -Wno-unused-parameter ${EXTRA_CFLAGS:-} -c "$src" -o "$o"
  objs="$objs $o"
done
# Stack first (64 KiB at address 0): data follows, then __heap_base, where the runtime
# places the arena, the weights and the scratch space.
"$LD" --no-entry --import-memory --stack-first -z stack-size=65536 --export=__heap_base \
  --strip-all $objs -o "$out/webdnn-kernels.wasm"
echo "built $out/webdnn-kernels.wasm ($(wc -c < "$out/webdnn-kernels.wasm") bytes)"
