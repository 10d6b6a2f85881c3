// Errors the runtime throws. Each message says what was wrong and what to do.

/** Base class of every WebDNN runtime error. */
export class WebDNNError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The descriptor or weights are malformed, corrupted or of an unsupported version. */
export class DescriptorError extends WebDNNError {}

/** The inputs given to run() do not match the model (name, dtype, length). */
export class InputError extends WebDNNError {}

/** No backend in backendOrder can run this model here. A backend's createSession throws it when
 *  this device cannot run this model on that backend (a limit), and load() tries the next. */
export class BackendUnavailableError extends WebDNNError {}

/** A network or file read failed while loading. */
export class LoadError extends WebDNNError {}

/** A WebGPU failure at load or run time: the device was lost, the model does not fit the GPU's
 *  limits or memory, a shader failed to compile, a GPU buffer given to run() cannot be used. */
export class WebGPUError extends WebDNNError {}

/** A byte count for messages: "1099511627776 bytes (1024.0 GiB)". */
export function byteSize(n: number): string {
  const units: [number, string][] = [[2 ** 30, "GiB"], [2 ** 20, "MiB"], [2 ** 10, "KiB"]];
  const u = units.find(([s]) => n >= s);
  return u ? `${n} bytes (${(n / u[0]).toFixed(1)} ${u[1]})` : `${n} bytes`;
}
