// The public Runner: input validation, output wrapping, disposal.

import type { Session } from "./backends/backend.js";
import type { Descriptor, IOSpec } from "./descriptor.js";
import { arrayTypeName, type DType, type TypedArray } from "./dtypes.js";
import { InputError, WebDNNError } from "./errors.js";

export interface Tensor {
  data: TypedArray;
  dims: number[];
  dtype: DType;
}

export type InputValue = TypedArray | { data: TypedArray; dims?: readonly number[] };

const CTOR: Record<DType, Function> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int64: BigInt64Array, int32: Int32Array,
  int16: Int16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

export class Runner {
  readonly backend: string;
  readonly inputs: readonly IOSpec[];
  readonly outputs: readonly IOSpec[];
  private session: Session | null;

  constructor(backend: string, desc: Descriptor, session: Session) {
    this.backend = backend;
    const spec = (t: number): Omit<IOSpec, "name"> => ({ dtype: desc.tensors[t]!.dtype, shape: desc.tensors[t]!.shape });
    this.inputs = desc.inputs.map((x) => ({ name: x.name, ...spec(x.tensor) }));
    this.outputs = desc.outputs.map((x) => ({ name: x.name, ...spec(x.tensor) }));
    this.session = session;
    this.info = session.info ?? {};
  }

  private readonly info: Readonly<Record<string, unknown>>;

  /** What the backend chose at load, e.g. wasm: { threads: 2, simd: "relaxed" } (and, when
   *  asked for with backendOptions.wasm.profile, the time per kernel so far). */
  get backendInfo(): Readonly<Record<string, unknown>> {
    return this.info;
  }

  /** Run the model. `inputs` maps each input name to a typed array (or {data, dims}). */
  async run(inputs: Readonly<Record<string, InputValue>>): Promise<Record<string, Tensor>> {
    if (!this.session) throw new WebDNNError("this runner was disposed; load the model again");
    const arrays = this.inputs.map((spec) => checkInput(spec, inputs[spec.name]));
    const extra = Object.keys(inputs).filter((k) => !this.inputs.some((s) => s.name === k));
    if (extra.length) throw new InputError(`unknown input(s) ${extra.join(", ")}; the model's inputs are ${this.inputs.map((s) => s.name).join(", ")}`);
    const outs = await this.session.run(arrays);
    const result: Record<string, Tensor> = {};
    this.outputs.forEach((spec, i) => (result[spec.name] = { data: outs[i]!, dims: [...spec.shape], dtype: spec.dtype }));
    return result;
  }

  dispose(): void {
    this.session?.dispose();
    this.session = null;
  }
}

function checkInput(spec: IOSpec, value: InputValue | undefined): TypedArray {
  const want = spec.shape.reduce((a, b) => a * b, 1);
  const shape = `[${spec.shape.join(", ")}]`;
  if (value === undefined) throw new InputError(`missing input '${spec.name}' (${spec.dtype}, shape ${shape})`);
  const data = ArrayBuffer.isView(value) ? (value as TypedArray) : value.data;
  if (!ArrayBuffer.isView(value) && value.dims && value.dims.join(",") !== spec.shape.join(",")) {
    throw new InputError(`input '${spec.name}' has dims [${value.dims.join(", ")}], the model expects ${shape}`);
  }
  let arr = data;
  if (!(data instanceof CTOR[spec.dtype])) {
    // Convenience: int32 data for an int64 input (token ids) is widened.
    if (spec.dtype === "int64" && data instanceof Int32Array) arr = BigInt64Array.from(data, (x) => BigInt(x));
    else throw new InputError(`input '${spec.name}' must be a ${arrayTypeName(spec.dtype)} (${spec.dtype}), got ${data?.constructor?.name ?? typeof data}`);
  }
  if (arr.length !== want) throw new InputError(`input '${spec.name}' has ${arr.length} elements, the model expects ${want} (shape ${shape})`);
  return arr;
}
