"""Winograd F(4x4, 3x3) convolution for the wasm backend: when to use it, and the filter transform.

The kernel (`runtime/kernels/wasm/winograd_f32_simd128.c`, export `conv2d_winograd_nhwc_f32`)
computes each 4x4 output tile of a stride-1, dilation-1, one-group 3x3 Conv from a 6x6
input tile:

    Y = A^T [ sum_c (G g_c G^T) (.) (B^T d_c B) ] A

with 36 multiplies per (input channel, output channel) pair and tile instead of 144. The
filter transform U = G g G^T is done once, at load, by the runtime (runtime/src/weight_transforms.ts, the
same arithmetic as pack_filters here, which the tests compare it with); the input (B^T d B) and
output (A^T m A) transforms run in the kernel, which hard-codes the same B^T and A^T.

Interpolation points 0, 1, -1, 1/2, -2 (and infinity). In fp32, a C = 512 layer with
N(0, 1) inputs and He-initialized weights errs by about 3e-5 relative to max(1, |ref|)
with these points, about 1.1e-4 with the usual 0, +-1, +-2 (Barabasz et al., "Error
analysis and improving the accuracy of Winograd convolution for deep neural networks",
2020, found the same ordering). The backend's stated bound is WINOGRAD_TOLERANCE.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from webdnn.backends.wasm.tiles import MCH, NR

ALPHA = 6  # input tile side: F(4x4, 3x3) reads 6x6
# The descriptor stores the 3x3 filters [M, C, 3, 3] and names this transform (params [M, C]); the runtime
# computes pack_filters' layout at load (runtime/src/weight_transforms.ts), so the download is the filters'
# size, not the 4x larger transformed one.
TRANSFORM = "winograd_f4x4_3x3_nr8"
WINOGRAD_TOLERANCE = 1e-3  # |ours - ref| <= this * max(1, |ref|), through whole models

# Routing, measured against the im2col + GEMM path (relaxed SIMD, Node, 1 thread): Winograd
# won from C = M = 4 up (1.9x at C = 4, M = 16; 2-2.9x from C = 32 up) but lost on VGG16's
# first layer (C = 3: 0.73x), where the output transform outweighs the 27-long GEMM rows.
MIN_CHANNELS = 8
# Small maps: the transformed filters are 4x the size of the originals, and with a tile or
# two the call only streams weights: 3x3 outputs ran at 0.47x, 5x5 at 1.0x, 6x6 at 1.2x,
# 7x7 at 2.1x (C = M = 512).
MIN_OUTPUTS = 36  # N * OH * OW
# Fraction of the computed 4x4 tile outputs that are real outputs (7x7 maps use 49 of 64).
MIN_TILE_USE = 0.5
# Tiles per block (TB), measured on VGG16's layers: with C < 256 the scratch of a block
# (V and Mb) stays in L2 with 16 tiles and larger blocks were slower; with C >= 256 the
# transformed filters (36 * C * M floats, 37 MB at C = M = 512) are streamed once per block,
# so blocks grow until V (36 * TB * C floats) reaches V_BLOCK_BYTES.
SMALL_C_TILE_BLOCK = 16
V_BLOCK_BYTES = 2 << 20
MAX_TILE_BLOCK = 64

_F = Fraction
# Rows: the points 0, 1, -1, 1/2, -2, infinity.
BT: tuple[tuple[Fraction, ...], ...] = (
    (_F(1), _F(-3, 2), _F(-2), _F(3, 2), _F(1), _F(0)),
    (_F(0), _F(-1), _F(1, 2), _F(5, 2), _F(1), _F(0)),
    (_F(0), _F(1), _F(-5, 2), _F(1, 2), _F(1), _F(0)),
    (_F(0), _F(-2), _F(-1), _F(2), _F(1), _F(0)),
    (_F(0), _F(1, 2), _F(-1), _F(-1, 2), _F(1), _F(0)),
    (_F(0), _F(1), _F(-3, 2), _F(-2), _F(3, 2), _F(1)),
)
G: tuple[tuple[Fraction, ...], ...] = (
    (_F(1), _F(0), _F(0)),
    (_F(1, 3), _F(1, 3), _F(1, 3)),
    (_F(-1, 3), _F(1, 3), _F(-1, 3)),
    (_F(-16, 15), _F(-8, 15), _F(-4, 15)),
    (_F(1, 15), _F(-2, 15), _F(4, 15)),
    (_F(0), _F(0), _F(1)),
)
AT: tuple[tuple[Fraction, ...], ...] = (
    (_F(1), _F(1), _F(1), _F(1), _F(1), _F(0)),
    (_F(0), _F(1), _F(-1), _F(1, 2), _F(-2), _F(0)),
    (_F(0), _F(1), _F(1), _F(1, 4), _F(4), _F(0)),
    (_F(0), _F(1), _F(-1), _F(1, 8), _F(-8), _F(1)),
)


def matrix(rows: tuple[tuple[Fraction, ...], ...]) -> np.ndarray:
    return np.array([[float(v) for v in r] for r in rows], np.float64)


def identity_holds() -> bool:
    """Exactly (in rationals): A^T [(G g) (.) (B^T d)] = the 1-D correlation of d (6) with g (3)."""
    for i in range(4):
        for k in range(3):
            for lo in range(ALPHA):
                s = sum((AT[i][j] * G[j][k] * BT[j][lo] for j in range(ALPHA)), _F(0))
                if s != (1 if lo == i + k else 0):
                    return False
    return True


def applies(group: int, kernel: tuple[int, int], strides: tuple[int, int], dilations: tuple[int, int],
            n: int, c: int, m: int, oh: int, ow: int) -> bool:
    """Does this Conv (NCHW geometry) run faster as Winograd F(4x4, 3x3) than as im2col + GEMM?"""
    if group != 1 or kernel != (3, 3) or strides != (1, 1) or dilations != (1, 1):
        return False
    if c < MIN_CHANNELS or m < MIN_CHANNELS:
        return False
    return n * oh * ow >= MIN_OUTPUTS and oh * ow >= MIN_TILE_USE * 16 * _ceil(oh, 4) * _ceil(ow, 4)


def tile_block(n: int, c: int, oh: int, ow: int) -> int:
    """TB, output tiles per block (a multiple of 4), spread evenly over the blocks."""
    tiles = n * _ceil(oh, 4) * _ceil(ow, 4)
    if c < 256:
        tb = SMALL_C_TILE_BLOCK
    else:
        tb = max(4, min(MAX_TILE_BLOCK, V_BLOCK_BYTES // (36 * 4 * _ceil(c, 4) * 4)) // 4 * 4)
    blocks = _ceil(tiles, tb)
    return min(tb, _ceil(_ceil(tiles, blocks), 4) * 4)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def stack_bytes(c: int, tb: int) -> int:
    """Per-thread stack scratch of one call: V [36][TB][Cp], Mb [36][TB][MCH], a zero row [Cp]."""
    cp = -(-c // 4) * 4
    return 4 * (36 * tb * (cp + MCH) + cp) + 64  # + alignment slack of the three arrays


def transform_filters(w: np.ndarray) -> np.ndarray:
    """[M, C, 3, 3] -> U [36, C, M] = G g G^T per (c, m), xi = 6 * row + column, computed in float64."""
    g = matrix(G)
    u = np.einsum("ik,mckl,jl->ijcm", g, w.astype(np.float64), g)
    m, c = w.shape[:2]
    return u.reshape(ALPHA * ALPHA, c, m)


def pack_filters(w: np.ndarray) -> np.ndarray:
    """[M, C, 3, 3] -> the kernel's U layout [36][ceil(M/8)][C][8] (zero columns beyond M), float32, flat."""
    u = transform_filters(w)
    xi, c, m = u.shape
    panels = -(-m // NR)
    padded = np.zeros((xi, c, panels * NR), np.float64)
    padded[:, :, :m] = u
    out = padded.reshape(xi, c, panels, NR).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(out, np.float32).reshape(-1)

