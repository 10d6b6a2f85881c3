// Tensor kernel family: data movement (reshape copies, Transpose, Slice, Expand, Tile,
// Concat, Split, Pad, Trilu), indexing (Gather*, ScatterND, OneHot) and reductions
// (Reduce*, ArgMax/ArgMin, CumSum). Shape, Size, ConstantOfShape and Range have no
// kernel: they are folded at conversion. Importing registers them.
import "./tensor/move.js";
import "./tensor/index_ops.js";
import "./tensor/reduce.js";
