// Element types shared with the descriptor (names match the Python DType values).

export type DType = "float32" | "float64" | "float16" | "int64" | "int32" | "int16" | "int8" | "uint8" | "bool";

export type TypedArray =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array;

const ITEM_SIZE: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

export const DTYPES = Object.keys(ITEM_SIZE) as DType[];

export function isDType(x: unknown): x is DType {
  return typeof x === "string" && Object.prototype.hasOwnProperty.call(ITEM_SIZE, x);
}

export function itemSize(dtype: DType): number {
  return ITEM_SIZE[dtype];
}

/** A typed-array view of `length` elements of `dtype` at `byteOffset` in `buffer`. */
export function makeView(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray {
  switch (dtype) {
    case "float32": return new Float32Array(buffer, byteOffset, length);
    case "float64": return new Float64Array(buffer, byteOffset, length);
    case "float16": return new Uint16Array(buffer, byteOffset, length);
    case "int64": return new BigInt64Array(buffer, byteOffset, length);
    case "int32": return new Int32Array(buffer, byteOffset, length);
    case "int16": return new Int16Array(buffer, byteOffset, length);
    case "int8": return new Int8Array(buffer, byteOffset, length);
    case "uint8": return new Uint8Array(buffer, byteOffset, length);
    case "bool": return new Uint8Array(buffer, byteOffset, length);
  }
}

/** A fresh zeroed array of `length` elements. */
export function allocate(dtype: DType, length: number): TypedArray {
  return makeView(dtype, new ArrayBuffer(length * itemSize(dtype)), 0, length);
}

/** The typed-array type a user passes for each dtype (name used in error messages). */
export function arrayTypeName(dtype: DType): string {
  return {
    float32: "Float32Array", float64: "Float64Array", float16: "Uint16Array (float16 bits)",
    int64: "BigInt64Array", int32: "Int32Array", int16: "Int16Array", int8: "Int8Array",
    uint8: "Uint8Array", bool: "Uint8Array",
  }[dtype];
}
