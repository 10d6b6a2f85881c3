// The sessions of a model with symbolic dims: one per input size (the symbols' values), each made
// from that size's descriptor on first use and kept in a least-recently-used cache of
// LoadOptions.shapeCacheSize entries, so a size seen before costs what a fixed-shape run does. An
// evicted session is disposed once no run() still uses it.

import type { Backend, Session, SizeFamily } from "./backends/backend.js";
import { envText } from "./dims.js";
import { concreteDescriptor, type DynamicDescriptor } from "./dynamic.js";

export const DEFAULT_SHAPE_CACHE_SIZE = 8;

interface Made { session: Session; inputShapes: number[][]; outputShapes: number[][] }
interface Entry { ready: Promise<Made>; made?: Made; busy: number; dropped: boolean; closed: boolean }

/** A session in use by one run(): call release() when the run is over. */
export interface Lease extends Made { release(): void }

export class SizeSessions {
  private readonly entries = new Map<string, Entry>(); // in order of use, least recent first
  private disposed = false;
  /** Concrete sessions created so far (Runner.backendInfo.signatures). */
  created = 0;
  /** The session of the latest run (its info and GPUDevice are the runner's). */
  last: Session | null = null;
  /** Whether this backend's sessions take GPU buffers (runGpu), once one was made. */
  gpu: boolean | null = null;
  /** What the sizes share (Backend.createFamily), made with the first size; null for backends without. */
  private family: Promise<SizeFamily> | null = null;
  private live = 0; // sessions made or being made, not yet disposed (the family is freed after the last)

  constructor(private readonly desc: DynamicDescriptor, private readonly backend: Backend, private readonly weights: Uint8Array,
    private readonly options: Record<string, unknown> | undefined, private readonly capacity: number) {}

  async acquire(env: ReadonlyMap<string, number>): Promise<Lease> {
    const key = envText(this.desc.table, env);
    let e = this.entries.get(key);
    if (e) {
      this.entries.delete(key); // re-inserted below as the most recent
    } else {
      const entry: Entry = { ready: this.create(env), busy: 0, dropped: false, closed: false };
      entry.ready.then((made) => {
        entry.made = made;
        if (this.disposed || (entry.dropped && entry.busy === 0)) this.close(entry);
      }, () => {
        // a size that failed is not kept: the error is the run's, a later run tries again
        if (this.entries.get(key) === entry) this.entries.delete(key);
      });
      e = entry;
    }
    this.entries.set(key, e);
    for (const [k, old] of this.entries) {
      if (this.entries.size <= this.capacity) break;
      this.entries.delete(k);
      old.dropped = true;
      if (old.busy === 0) this.close(old);
    }
    const entry = e;
    entry.busy++;
    let made: Made;
    try {
      made = await entry.ready;
    } catch (err) {
      entry.busy--;
      throw err;
    }
    this.last = made.session;
    let released = false;
    return {
      ...made,
      release: () => {
        if (released) return;
        released = true;
        entry.busy--;
        if ((entry.dropped || this.disposed) && entry.busy === 0) this.close(entry);
      },
    };
  }

  private async create(env: ReadonlyMap<string, number>): Promise<Made> {
    const desc = concreteDescriptor(this.desc, env);
    // the device's limits for this size, as load() checks a fixed-shape model's
    await this.backend.checkDescriptor?.(desc, this.options);
    let session: Session;
    this.live++; // counted while being made: the family outlives it
    try {
      if (this.backend.createFamily) {
        if (!this.family) {
          this.family = this.backend.createFamily(desc, this.weights, this.options);
          this.family.catch(() => { this.family = null; }); // a later size tries again
        }
        session = await (await this.family).createSession(desc);
      } else {
        session = await this.backend.createSession(desc, this.weights, this.options);
      }
    } catch (e) {
      this.live--;
      if (this.disposed && this.live === 0) this.closeFamily();
      throw e;
    }
    this.created++;
    this.gpu = typeof session.runGpu === "function";
    const shapes = (xs: typeof desc.inputs) => xs.map((x) => [...desc.tensors[x.tensor]!.shape]);
    return { session, inputShapes: shapes(desc.inputs), outputShapes: shapes(desc.outputs) };
  }

  private close(e: Entry): void {
    if (e.closed || !e.made) return;
    e.closed = true;
    if (this.last === e.made.session) this.last = null;
    e.made.session.dispose();
    this.live--;
    if (this.disposed && this.live === 0) this.closeFamily();
  }

  private closeFamily(): void {
    const f = this.family;
    this.family = null;
    f?.then((family) => family.dispose(), () => {});
  }

  /** Dispose every session now (those still being made, once made). */
  dispose(): void {
    this.disposed = true;
    for (const e of this.entries.values()) this.close(e);
    this.entries.clear();
    this.last = null;
    if (this.live === 0) this.closeFamily();
  }
}
