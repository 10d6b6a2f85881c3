// Elementwise kernel family: broadcasting binary ops, Where, unary math and
// activations, Clip, Cast/CastLike, Identity, Dropout. Importing registers them.
import "./elementwise/binary.js";
import "./elementwise/unary.js";
import "./elementwise/cast.js";
