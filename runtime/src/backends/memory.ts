// The descriptor's memory plan, checked once when a fallback or wasm session is created.
//
// The descriptor's own validation keeps every tensor inside the arena or the weights; these
// checks make sure the plan is one the converter could have written, because any other one runs
// without a fault but computes garbage:
//
//  - weights: the converter writes the constants one after another, in tensor order, each at the
//    next multiple of weights.alignment, and nothing else. A weight tensor anywhere else (an
//    edited offset) would read another constant's bytes.
//  - every tensor is an operand of a kernel or a graph input or output (the converter lists no
//    other; a kernel deleted from the list would leave its output only read through views).
//  - arena: tensors share bytes over time (the plan reuses memory after a tensor's last use;
//    zero-copy views such as Reshape share their source's bytes under another shape). Replaying
//    the kernels in order, every tensor a kernel reads (and every graph output at the end) must
//    still hold the value last written to exactly its bytes: written by itself (or, for a view,
//    which no kernel writes, by the tensor the descriptor's `views` says it views), and not
//    overwritten, even in part, since. Each tensor is written at most once (graph inputs before
//    the first kernel), and no kernel writes bytes it reads or writes two outputs over each
//    other.
// Both run in O(tensors + kernels x live tensors) at load time.

import type { Descriptor, TensorSpec } from "../descriptor.js";
import { droppedKernels } from "../dynamic.js";
import { DescriptorError } from "../errors.js";

function fail(what: string): never {
  throw new DescriptorError(`descriptor memory plan: ${what}. Re-convert the model with the matching webdnn version.`);
}

const name = (t: TensorSpec, i: number) => `tensor ${i} ('${t.name}')`;

export function checkMemoryPlan(desc: Descriptor): void {
  const { tensors } = desc;
  // ---- weights: packed in tensor order
  let cursor = 0;
  const align = desc.weights.alignment;
  if (!(Number.isSafeInteger(align) && align >= 1)) fail(`weights.alignment ${JSON.stringify(align)} is not a positive integer`);
  tensors.forEach((t, i) => {
    if (t.memory !== "weights") return;
    const at = Math.ceil(cursor / align) * align;
    if (t.offset !== at) fail(`${name(t, i)} lies at weights offset ${t.offset}; after the constants before it, it starts at ${at}`);
    cursor = at + t.byteLength;
  });
  if (cursor !== desc.weights.byteLength) fail(`the weight tensors end at byte ${cursor}, weights.byteLength says ${desc.weights.byteLength}`);

  // ---- every tensor is some kernel's or the graph's (the converter lists no other)
  const used = new Set<number>([...desc.inputs.map((x) => x.tensor), ...desc.outputs.map((x) => x.tensor)]);
  for (const k of [...desc.kernels, ...droppedKernels(desc)]) for (const i of [...k.inputs, ...k.outputs]) used.add(i);
  tensors.forEach((t, i) => {
    if (!used.has(i)) fail(`${name(t, i)} is neither a graph input or output nor any kernel's operand`);
  });

  // ---- arena: replay the writes
  interface Write { t: number; lo: number; hi: number }
  let live: Write[] = []; // disjoint byte ranges and the tensor that wrote each last
  const written = new Set<number>(); // tensors some kernel (or the caller, for inputs) writes
  for (const k of desc.kernels) for (const o of k.outputs) written.add(o);
  const range = (i: number): Write => ({ t: i, lo: tensors[i]!.offset, hi: tensors[i]!.offset + tensors[i]!.byteLength });
  const overlaps = (a: Write, b: Write) => a.lo < b.hi && b.lo < a.hi;
  const done = new Set<number>();
  const write = (i: number, where: string) => {
    const t = tensors[i]!;
    if (t.memory !== "arena" || t.byteLength === 0) return;
    if (done.has(i)) fail(`${where} writes ${name(t, i)}, which was written before`);
    done.add(i);
    const w = range(i);
    live = live.filter((x) => !overlaps(x, w));
    live.push(w);
  };
  // Zero-copy views: the converter lists [view, source] (descriptor field `views`); without the
  // list (older converters) a tensor no kernel writes reads whatever tensor last wrote exactly its
  // bytes and type.
  const viewOf = new Map<number, number>();
  const views = desc.views;
  if (views !== undefined) {
    const isRef = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) < tensors.length;
    if (!Array.isArray(views)) fail(`views must be a list of [view, source] tensor pairs`);
    for (const pair of views as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2 || !isRef(pair[0]) || !isRef(pair[1])) fail(`views entry ${JSON.stringify(pair)} is not a [view, source] pair of tensor indices`);
      const [v, r] = pair as [number, number];
      const tv = tensors[v]!, tr = tensors[r]!;
      if (v === r || viewOf.has(v) || written.has(v) || desc.inputs.some((x) => x.tensor === v)) fail(`views entry [${v}, ${r}]: ${name(tv, v)} is written or listed twice`);
      if (tv.memory !== "arena" || tr.memory !== "arena" || tv.offset !== tr.offset || tv.byteLength !== tr.byteLength || tv.dtype !== tr.dtype) {
        fail(`views entry [${v}, ${r}]: ${name(tv, v)} does not have the bytes and type of ${name(tr, r)}`);
      }
      viewOf.set(v, r);
    }
  }
  const read = (i: number, where: string) => {
    const t = tensors[i]!;
    if (t.memory !== "arena" || t.byteLength === 0) return;
    const r = range(i);
    const holders = live.filter((x) => overlaps(x, r));
    const h = holders[0];
    const direct = written.has(i) || desc.inputs.some((x) => x.tensor === i);
    const source = views === undefined ? undefined : viewOf.get(i);
    const ok = holders.length === 1 && h!.lo === r.lo && h!.hi === r.hi &&
      (h!.t === i || (!direct && (views === undefined ? tensors[h!.t]!.dtype === t.dtype : h!.t === source)));
    if (!ok) {
      const why = !done.has(i) && written.has(i) ? "before it is written"
        : !direct && views !== undefined && source === undefined ? "which no kernel writes and which is no view"
        : holders.length === 0 ? "but nothing was written there"
        : `but bytes ${r.lo}..${r.hi} hold ${holders.map((x) => name(tensors[x.t]!, x.t)).join(", ")} then`;
      fail(`${where} reads ${name(t, i)} at arena bytes ${r.lo}..${r.hi} ${why}`);
    }
  };
  desc.inputs.forEach((x) => write(x.tensor, `graph input '${x.name}'`));
  desc.kernels.forEach((k, n) => {
    const where = `kernel '${k.name}' (${k.op}, kernels[${n}])`;
    for (const i of k.inputs) if (i >= 0) read(i, where);
    const ins = k.inputs.filter((i) => i >= 0 && tensors[i]!.memory === "arena").map(range);
    const outs: Write[] = [];
    for (const o of k.outputs) {
      const w = range(o);
      if (w.hi > w.lo && [...ins, ...outs].some((x) => x.t !== o && x.hi > x.lo && overlaps(x, w))) {
        fail(`${where} writes ${name(tensors[o]!, o)} over bytes it reads or writes through another tensor`);
      }
      outs.push(w);
    }
    for (const o of k.outputs) write(o, where);
  });
  desc.outputs.forEach((x) => read(x.tensor, `graph output '${x.name}'`));
}
