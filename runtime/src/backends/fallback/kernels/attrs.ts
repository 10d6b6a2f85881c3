// Typed access to kernel attributes. The descriptor stores attributes as JSON; floats
// that JSON cannot hold are written as the strings "Infinity", "-Infinity" and "NaN".

import { DescriptorError } from "../../../errors.js";
import type { Attrs } from "./registry.js";

function bad(key: string, want: string, got: unknown): DescriptorError {
  return new DescriptorError(`kernel attribute '${key}' must be ${want}, got ${JSON.stringify(got)}`);
}

export function toFloat(x: unknown, key = "?"): number {
  if (typeof x === "number") return x;
  if (x === "Infinity") return Infinity;
  if (x === "-Infinity") return -Infinity;
  if (x === "NaN") return NaN;
  throw bad(key, "a number", x);
}

export function attrFloat(a: Attrs, key: string, dflt?: number): number {
  const x = a[key];
  if (x === undefined && dflt !== undefined) return dflt;
  return toFloat(x, key);
}

// Integers must be exact doubles (|x| <= 2^53): a larger one (1e308 is an "integer" to JS) is no
// int64 an exporter wrote, and index arithmetic with it would be inexact.
export function attrInt(a: Attrs, key: string, dflt?: number): number {
  const x = a[key];
  if (x === undefined && dflt !== undefined) return dflt;
  if (typeof x !== "number" || !Number.isSafeInteger(x)) throw bad(key, "an integer", x);
  return x;
}

export function attrInts(a: Attrs, key: string, dflt?: readonly number[]): number[] {
  const x = a[key];
  if (x === undefined && dflt !== undefined) return [...dflt];
  if (!Array.isArray(x) || !x.every((v) => typeof v === "number" && Number.isSafeInteger(v))) {
    throw bad(key, "a list of integers", x);
  }
  return x as number[];
}

export function attrFloats(a: Attrs, key: string, dflt?: readonly number[]): number[] {
  const x = a[key];
  if (x === undefined && dflt !== undefined) return [...dflt];
  if (!Array.isArray(x)) throw bad(key, "a list of numbers", x);
  return x.map((v) => toFloat(v, key));
}

export function attrString(a: Attrs, key: string, dflt?: string): string {
  const x = a[key];
  if (x === undefined && dflt !== undefined) return dflt;
  if (typeof x !== "string") throw bad(key, "a string", x);
  return x;
}
