/**
 * Watching the work a backend really does, from outside, on any backend: tests of "nothing was
 * dispatched" and "one submission per run" count here instead of reading `backend.stats`, a
 * counter the code under test keeps (and could bump by hand, or forget).
 *
 *  - every Program the backend lowers from now on has its `run` wrapped: a run that reaches the
 *    backend counts, whichever backend it is (reference, cpu, webgpu);
 *  - on WebGPU the backend's own GPUDevice is instrumented in place: every `queue.submit` and
 *    every `dispatchWorkgroups` of a compute pass counts (the objects stay Dawn's own);
 *  - on the CPU backend every GEMM run on its engine counts (test/cpu/observe.ts).
 *
 * `restore()` puts everything back. Programs lowered before the watch began are not watched:
 * start it before compiling.
 */
import type { Backend } from '@kiln/core';
import type { CpuBackend } from '@kiln/cpu';
import { countGemms } from '../cpu/observe';

export interface WorkWatch {
  /** Programs lowered (the Executable's program-cache misses). */
  lowered: number;
  /** Program runs that reached the backend. */
  programRuns: number;
  /** `queue.submit` calls on the device (WebGPU); null on a backend without a device. */
  submits: number | null;
  /** `dispatchWorkgroups` calls on the device (WebGPU); null on a backend without a device. */
  dispatches: number | null;
  /** GEMM runs on the CPU backend's engine; null elsewhere. */
  readonly gemms: number | null;
  /** All the counts at once, to compare before and after something. */
  counts(): { programRuns: number; submits: number | null; dispatches: number | null; gemms: number | null };
  restore(): void;
}

/** Replace `obj[key]` by `make(original)`; the returned function puts the original back. */
function patch<T extends object, K extends keyof T>(obj: T, key: K, make: (original: T[K]) => T[K]): () => void {
  const own = Object.prototype.hasOwnProperty.call(obj, key);
  const saved = obj[key];
  obj[key] = make(saved);
  return () => {
    if (own) obj[key] = saved;
    else delete obj[key]; // back to the prototype's method
  };
}

export function watchWork(backend: Backend): WorkWatch {
  const device = (backend as { device?: GPUDevice }).device;
  const engine = backend.name === 'cpu' ? countGemms(backend as CpuBackend) : null;
  const undo: (() => void)[] = [];
  const w: WorkWatch = {
    lowered: 0,
    programRuns: 0,
    submits: device ? 0 : null,
    dispatches: device ? 0 : null,
    get gemms() { return engine ? engine.calls : null; },
    counts: () => ({ programRuns: w.programRuns, submits: w.submits, dispatches: w.dispatches, gemms: w.gemms }),
    restore: () => {
      for (const u of undo.splice(0).reverse()) u();
      engine?.restore();
    },
  };
  undo.push(patch(backend as { lower: Backend['lower'] }, 'lower', (lower) => async (plan) => {
    w.lowered++;
    const program = await lower.call(backend, plan);
    const run = program.run.bind(program);
    program.run = (...args) => { w.programRuns++; return run(...args); };
    return program;
  }));
  if (device) {
    const queue = device.queue;
    undo.push(patch(queue, 'submit', (submit) => (cbs: Iterable<GPUCommandBuffer>) => { w.submits!++; submit.call(queue, cbs); }));
    undo.push(patch(device, 'createCommandEncoder', (create) => (d?: GPUCommandEncoderDescriptor) => {
      const encoder = create.call(device, d);
      const begin = encoder.beginComputePass.bind(encoder);
      encoder.beginComputePass = (pd?: GPUComputePassDescriptor) => {
        const pass = begin(pd);
        const dispatch = pass.dispatchWorkgroups.bind(pass);
        pass.dispatchWorkgroups = (x: number, y?: number, z?: number) => { w.dispatches!++; dispatch(x, y, z); };
        return pass;
      };
      return encoder;
    }));
  }
  return w;
}
