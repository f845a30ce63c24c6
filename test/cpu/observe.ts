/**
 * Watching the CPU backend's memory from outside, instead of trusting the byte counter it
 * keeps itself: while a tracker is on, every typed array and ArrayBuffer constructed (by
 * `new`, `from` or `of`) or copied (`slice`, `map`, `filter`) is recorded with a WeakRef, and a real garbage collection then tells
 * which of them something still holds. Also: GEMM executions counted on the backend's engine.
 */
import vm from 'node:vm';
import v8 from 'node:v8';
import type { CpuBackend } from '@kiln/cpu';

const CTORS = ['ArrayBuffer', 'Float32Array', 'Float64Array', 'Int32Array', 'Uint32Array', 'Uint8Array'] as const;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

export interface Allocation { readonly kind: string; readonly bytes: number; readonly ref: WeakRef<object> }

/** Collect garbage for real (after the current job, so WeakRefs taken in it may clear). */
export async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await new Promise((r) => setTimeout(r, 0));
    gc();
  }
}

/** Record every array constructed while `f` runs (constructors restored afterwards). */
export async function trackAllocations<T>(f: () => Promise<T> | T): Promise<{ result: T; allocations: Allocation[] }> {
  const allocations: Allocation[] = [];
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = CTORS.map((name) => [name, g[name]] as const);
  for (const [name, ctor] of saved) {
    g[name] = new Proxy(ctor as new (...a: unknown[]) => object, {
      construct(target, args) {
        const made = Reflect.construct(target, args) as ArrayBufferView | ArrayBuffer;
        allocations.push({ kind: name, bytes: made.byteLength, ref: new WeakRef(made) });
        return made;
      },
    });
  }
  // Copies made by methods (a.slice(), a.map(...)) allocate too, without a constructor call.
  const protos = [Object.getPrototypeOf(Float32Array.prototype), ArrayBuffer.prototype] as Record<string, unknown>[];
  const methods = protos.flatMap((proto) => ['slice', 'map', 'filter'].filter((m) => typeof proto[m] === 'function').map((m) => [proto, m, proto[m] as (...a: unknown[]) => ArrayBufferView | ArrayBuffer] as const));
  for (const [proto, m, original] of methods) {
    proto[m] = function (this: unknown, ...args: unknown[]) {
      const made = original.apply(this, args);
      allocations.push({ kind: `${m}()`, bytes: made.byteLength, ref: new WeakRef(made) });
      return made;
    };
  }
  try {
    return { result: await f(), allocations };
  } finally {
    for (const [name, ctor] of saved) g[name] = ctor;
    for (const [proto, m, original] of methods) proto[m] = original;
  }
}

/** Allocations that a garbage collection could not free (something still references them). */
export async function stillHeld(allocations: readonly Allocation[]): Promise<Allocation[]> {
  await collectGarbage();
  return allocations.filter((a) => a.ref.deref() !== undefined);
}

/** Count GEMM executions on a backend's engine (matmul and convolutions run through it). */
export function countGemms(backend: CpuBackend): { calls: number; restore(): void } {
  const engine = backend.gemm;
  const prepare = engine.prepare;
  const counter = { calls: 0, restore: () => { engine.prepare = prepare; } };
  engine.prepare = (m, k, n) => {
    const call = prepare.call(engine, m, k, n);
    const run = call.run.bind(call);
    call.run = (...args) => { counter.calls++; return run(...args); };
    return call;
  };
  return counter;
}
