// The C printer of elementwise expression programs: a program of the transpiler's op table
// (attrs.expr of a unary call, attrs.activation.expr of a fused activation; ops/expr.py) as
// the words the wasm interpreter (v_expr, runtime/kernels/wasm/common.h) reads: [n, then per
// instruction: opcode, three words], a constant's word being its float32 bits. Checked here,
// once, since the kernel trusts it: the program is valid (ExprProgram), short enough, made of
// the primitives the interpreter has, and its comparisons (lane masks in C) only feed where().

import { DescriptorError } from "../../errors.js";
import { constValue, ExprProgram, OPCODES } from "../fallback/kernels/expr.js";

/** The primitives v_expr runs (tests/ops/test_expr_primitives.py checks them against the C). */
export const C_PRIMITIVES: ReadonlySet<string> = new Set([
  "x", "c", "neg", "abs", "floor", "ceil", "round", "sign", "sqrt", "exp", "expm1", "tanh", "sigmoid", "erf",
  "add", "sub", "mul", "div", "min", "max", "lt", "le", "gt", "ge", "eq", "where",
]);
export const EXPR_MAX = 64;
const MASKS = new Set(["lt", "le", "gt", "ge", "eq"]);

/** The program's words; throws a DescriptorError naming `what` when the interpreter cannot run it. */
export function programWords(prog: unknown, what: string): Int32Array {
  new ExprProgram(prog, what); // structure, arity, argument indices, known primitives
  const ins = prog as [string, ...unknown[]][];
  if (ins.length > EXPR_MAX) throw new DescriptorError(`${what} has ${ins.length} instructions; the wasm interpreter runs at most ${EXPR_MAX}`);
  const words = new Int32Array(1 + 4 * ins.length);
  const f32 = new Float32Array(1);
  const bits = new Int32Array(f32.buffer);
  words[0] = ins.length;
  ins.forEach(([op, ...args], i) => {
    if (!C_PRIMITIVES.has(op)) throw new DescriptorError(`${what}[${i}]: the wasm interpreter has no ${op}`);
    args.forEach((a, j) => {
      if (op !== "x" && op !== "c" && MASKS.has(ins[a as number]![0]) && !(op === "where" && j === 0)) {
        throw new DescriptorError(`${what}[${i}]: a comparison may only be the condition of a where`);
      }
    });
    if (op === "where" && !MASKS.has(ins[args[0] as number]![0])) {
      throw new DescriptorError(`${what}[${i}]: the condition of a where must be a comparison`);
    }
    words[1 + 4 * i] = OPCODES.indexOf(op);
    if (op === "c") {
      f32[0] = constValue(args[0], `${what}[${i}]`);
      words[2 + 4 * i] = bits[0]!;
    } else if (op !== "x") {
      args.forEach((a, j) => { words[2 + 4 * i + j] = a as number; });
    }
  });
  return words;
}

/** The program a `{program: ref}` parameter names in the call's attributes. */
export function referencedProgram(attrs: Record<string, unknown>, ref: unknown): unknown {
  if (ref === "expr") return attrs.expr;
  if (ref === "activation") return (attrs.activation as { expr?: unknown } | undefined)?.expr;
  throw new DescriptorError(`{program: ${JSON.stringify(ref)}} names no program (expected "expr" or "activation")`);
}
