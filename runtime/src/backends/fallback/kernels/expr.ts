// Elementwise expression programs: the JS printer of the transpiler's op table.
//
// Every float unary op (and every fused activation) is defined once, in Python, as an
// expression over primitives (src/webdnn/ops/expr.py, unary_ops.py); the lowering writes it
// into the kernel's attributes as `expr`, an SSA list: ["x", 0], ["c", value] or
// [primitive, arg, ...] where args index earlier instructions and the last one is the result.
// This file checks such a program once at load and evaluates it block by block: each
// instruction is one tight loop over a block of BLOCK doubles, so the per-element cost is a
// few typed-array loads and stores per primitive, with no per-element dispatch (and no eval).
// The semantics are expr.py's: max(a, b) = a < b ? b : a and min(a, b) = b < a ? b : a (NaN
// in `a` passes), comparisons give 1/0 (false for NaN), every other primitive keeps NaN.

import { DescriptorError } from "../../../errors.js";
import { erf } from "./elementwise/erf.js";

const BLOCK = 256;

/** Every primitive in the opcode order of ops/expr.py (OPCODES): the wasm C interpreter's
 *  numbering (tests/ops/test_expr_primitives.py checks the three agree). */
export const OPCODES: readonly string[] = [
  "x", "c", "neg", "abs", "floor", "ceil", "round", "sign", "sqrt", "exp", "expm1", "log", "log1p", "tanh",
  "sigmoid", "erf", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
  "add", "sub", "mul", "div", "pow", "min", "max", "lt", "le", "gt", "ge", "eq", "where",
];

type Block = Float64Array<ArrayBuffer>;
type Step = (n: number) => void;

function roundEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

const UNARY_FN: Record<string, (v: number) => number> = {
  neg: (v) => -v, abs: Math.abs, floor: Math.floor, ceil: Math.ceil, round: roundEven, sign: Math.sign,
  sqrt: Math.sqrt, exp: Math.exp, expm1: Math.expm1, log: Math.log, log1p: Math.log1p, tanh: Math.tanh,
  sigmoid: (v) => 1 / (1 + Math.exp(-v)), erf, sin: Math.sin, cos: Math.cos, tan: Math.tan,
  asin: Math.asin, acos: Math.acos, atan: Math.atan, sinh: Math.sinh, cosh: Math.cosh,
  asinh: Math.asinh, acosh: Math.acosh, atanh: Math.atanh,
};
const BINARY = new Set(["add", "sub", "mul", "div", "pow", "min", "max", "lt", "le", "gt", "ge", "eq"]);

/** A unary step: a loop literal for the hot primitives, the generic call for the rest. */
function unaryStep(op: string, a: Block, y: Block): Step {
  switch (op) {
    case "neg": return (n) => { for (let i = 0; i < n; i++) y[i] = -a[i]!; };
    case "abs": return (n) => { for (let i = 0; i < n; i++) y[i] = Math.abs(a[i]!); };
    case "exp": return (n) => { for (let i = 0; i < n; i++) y[i] = Math.exp(a[i]!); };
    case "tanh": return (n) => { for (let i = 0; i < n; i++) y[i] = Math.tanh(a[i]!); };
    case "sigmoid": return (n) => { for (let i = 0; i < n; i++) y[i] = 1 / (1 + Math.exp(-a[i]!)); };
    default: {
      const f = UNARY_FN[op]!;
      return (n) => { for (let i = 0; i < n; i++) y[i] = f(a[i]!); };
    }
  }
}

/** A binary step; `bc` is b's value when b is a constant (the common `x op c` form). */
function binaryStep(op: string, a: Block, b: Block, bc: number | null, y: Block): Step {
  if (bc !== null) {
    const c = bc;
    switch (op) {
      case "add": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! + c; };
      case "sub": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! - c; };
      case "mul": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! * c; };
      case "div": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! / c; };
      case "max": return (n) => { for (let i = 0; i < n; i++) { const v = a[i]!; y[i] = v < c ? c : v; } };
      case "min": return (n) => { for (let i = 0; i < n; i++) { const v = a[i]!; y[i] = c < v ? c : v; } };
      case "lt": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! < c ? 1 : 0; };
      case "le": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! <= c ? 1 : 0; };
      case "gt": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! > c ? 1 : 0; };
      case "ge": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! >= c ? 1 : 0; };
      default: break;
    }
  }
  switch (op) {
    case "add": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! + b[i]!; };
    case "sub": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! - b[i]!; };
    case "mul": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! * b[i]!; };
    case "div": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! / b[i]!; };
    case "pow": return (n) => { for (let i = 0; i < n; i++) y[i] = Math.pow(a[i]!, b[i]!); };
    case "max": return (n) => { for (let i = 0; i < n; i++) { const u = a[i]!, v = b[i]!; y[i] = u < v ? v : u; } };
    case "min": return (n) => { for (let i = 0; i < n; i++) { const u = a[i]!, v = b[i]!; y[i] = v < u ? v : u; } };
    case "lt": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! < b[i]! ? 1 : 0; };
    case "le": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! <= b[i]! ? 1 : 0; };
    case "gt": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! > b[i]! ? 1 : 0; };
    case "ge": return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! >= b[i]! ? 1 : 0; };
    default: return (n) => { for (let i = 0; i < n; i++) y[i] = a[i]! === b[i]! ? 1 : 0; }; // eq
  }
}

export function constValue(v: unknown, where: string): number {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (v === "inf") return Infinity;
  if (v === "-inf") return -Infinity;
  if (v === "nan") return NaN;
  throw new DescriptorError(`${where}: constant ${JSON.stringify(v)} is not a finite number, "inf", "-inf" or "nan"`);
}

/** A checked program, ready to run on any number of elements. */
export class ExprProgram {
  private readonly steps: Step[] = [];
  private readonly input: Block;
  private readonly result: Block;

  /** `what` names the program in errors (e.g. "attrs.expr"). */
  constructor(prog: unknown, what = "expr") {
    if (!Array.isArray(prog) || prog.length === 0 || prog.length > 4096) {
      throw new DescriptorError(`${what} must be a non-empty list of at most 4096 instructions`);
    }
    const blocks: Block[] = [];
    const consts: (number | null)[] = [];
    let input: Block | null = null;
    prog.forEach((ins: unknown, k: number) => {
      const where = `${what}[${k}]`;
      if (!Array.isArray(ins) || typeof ins[0] !== "string") throw new DescriptorError(`${where} must be [primitive, ...]`);
      const op = ins[0] as string;
      const args = ins.slice(1);
      const ref = (j: number): Block => {
        const i = args[j];
        if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= k) {
          throw new DescriptorError(`${where}: argument ${JSON.stringify(i)} must index an earlier instruction`);
        }
        return blocks[i]!;
      };
      const arity = (n: number) => {
        if (args.length !== n) throw new DescriptorError(`${where}: ${op} takes ${n} arguments, got ${args.length}`);
      };
      let y = new Float64Array(BLOCK);
      let c: number | null = null;
      if (op === "x") {
        arity(1);
        if (args[0] !== 0) throw new DescriptorError(`${where}: only input 0 exists here`);
        input ??= y;
        y = input;
      } else if (op === "c") {
        arity(1);
        c = constValue(args[0], where);
        y.fill(c);
      } else if (op in UNARY_FN) {
        arity(1);
        this.steps.push(unaryStep(op, ref(0), y));
      } else if (BINARY.has(op)) {
        arity(2);
        const bi = args[1] as number;
        const b = ref(1);
        this.steps.push(binaryStep(op, ref(0), b, consts[bi] ?? null, y));
      } else if (op === "where") {
        arity(3);
        const cond = ref(0), a = ref(1), b = ref(2);
        const out = y;
        this.steps.push((n) => { for (let i = 0; i < n; i++) out[i] = cond[i] !== 0 ? a[i]! : b[i]!; });
      } else {
        throw new DescriptorError(`${where}: unknown primitive ${JSON.stringify(op)}; update the webdnn runtime`);
      }
      blocks.push(y);
      consts.push(c);
    });
    this.input = input ?? new Float64Array(BLOCK);
    this.result = blocks[blocks.length - 1]!;
  }

  /** dst[dstOff + i] = f(src[srcOff + i]) for i < n (dst may be src: in place). */
  apply(src: Float32Array | Float64Array, srcOff: number, dst: Float32Array | Float64Array, dstOff: number, n: number): void {
    const x = this.input, r = this.result, steps = this.steps;
    for (let s = 0; s < n; s += BLOCK) {
      const m = Math.min(BLOCK, n - s);
      x.set(src.subarray(srcOff + s, srcOff + s + m)); // converting copies, done natively
      for (const step of steps) step(m);
      dst.set(m === BLOCK ? r : r.subarray(0, m), dstOff + s);
    }
  }

  /** The same for any number arrays (float16 bits through reader/writer functions). */
  applyWith(read: (i: number) => number, write: (i: number, v: number) => void, n: number): void {
    const x = this.input, r = this.result, steps = this.steps;
    for (let s = 0; s < n; s += BLOCK) {
      const m = Math.min(BLOCK, n - s);
      for (let i = 0; i < m; i++) x[i] = read(s + i);
      for (const step of steps) step(m);
      for (let i = 0; i < m; i++) write(s + i, r[i]!);
    }
  }

  /** The program on one number (tests, scalar paths). */
  scalar(v: number): number {
    const out = new Float64Array(1);
    this.apply(Float64Array.of(v), 0, out, 0, 1);
    return out[0]!;
  }
}
