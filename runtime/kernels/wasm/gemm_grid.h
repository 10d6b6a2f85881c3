// How the GEMM-shaped kernels (gemm_f32, conv2d_nhwc_f32, qconv2d_nhwc_x8) share a call between
// threads: tasks of a (row block) x (column chunk) grid, row-block major. Column chunks (whole
// NR-wide panels) are cut only when there are too few row blocks to keep every thread busy (e.g.
// M = 1 fully connected layers, 7x7 feature maps).
#pragma once
#include "common.h"
#include "tiles.h"

typedef struct { int blocks, chunks, panels_per_chunk; } Grid;

static inline Grid grid_of(int rows, int MC, int N, int nthreads) {
  Grid g;
  int panels = (N + NR - 1) / NR;
  g.blocks = (rows + MC - 1) / MC;
  g.chunks = col_chunks(g.blocks, nthreads, panels);
  g.panels_per_chunk = (panels + g.chunks - 1) / g.chunks;
  g.chunks = (panels + g.panels_per_chunk - 1) / g.panels_per_chunk;
  return g;
}
