/**
 * compile(g, { backend }): pick a backend and build an Executable. 'auto' uses WebGPU when an
 * adapter answers and the gpu.js CPU backend otherwise, printing one line on stderr that says
 * why; KILN_BACKEND=cpu|webgpu overrides 'auto'.
 */
import { type Backend, compileWith, type CompileOptions, createReferenceBackend, type Executable, type Graph, OptionsError, parseOptions } from '@kiln/core';
import { chooseBackend, createCpuBackend, fallbackNotice } from '@kiln/cpu';
import { closeWebGPU, createWebGPUBackend, webgpuAvailable } from '@kiln/webgpu';
import { z } from 'zod';

export type BackendName = 'auto' | 'webgpu' | 'cpu' | 'reference';

export interface KilnCompileOptions extends CompileOptions {
  /** 'auto' (default), 'webgpu', 'cpu', or the float64 'reference' (for debugging). */
  backend?: BackendName;
  /** Print nothing on stderr when falling back. */
  quiet?: boolean;
}

const schema = z.object({
  backend: z.enum(['auto', 'webgpu', 'cpu', 'reference']).optional(),
  quiet: z.boolean().optional(),
  profile: z.boolean().optional(),
  fuse: z.boolean().optional(),
  debug: z.boolean().optional(),
  maxStorageBuffers: z.number().int().min(4).optional(),
}).strict();
// (ownsBackend is not a user option: compile() always owns the backend it creates.)

/** One line on stderr in Node; console.warn in a page (which has no process.stderr). */
function notice(line: string): void {
  const stderr = (globalThis as { process?: { stderr?: { write(s: string): unknown } } }).process?.stderr;
  if (stderr) stderr.write(`${line}\n`);
  else console.warn(line);
}

/** Create the backend `compile` would use, without compiling anything. */
export async function createBackend(request: BackendName = 'auto', options: { quiet?: boolean; profile?: boolean } = {}): Promise<Backend> {
  if (request === 'reference') return createReferenceBackend();
  const choice = await chooseBackend(request, async () => {
    const r = await webgpuAvailable();
    return r.ok ? { ok: true } : { ok: false, reason: r.reason };
  });
  if (choice.backend === 'webgpu') return createWebGPUBackend({ profile: options.profile ?? false });
  const cpu = await createCpuBackend();
  const line = fallbackNotice(choice, cpu.description);
  if (line && !options.quiet) notice(line);
  return cpu;
}

/**
 * Compile a graph for a backend.
 *
 * @example
 *   const exe = await compile(g, { backend: 'auto' });
 *   console.log(exe.backend); // 'webgpu' or 'cpu'
 *   const { loss } = await exe.run({ x, y }, { loss: lossTensor }, { train: true });
 */
export async function compile(g: Graph, options: KilnCompileOptions = {}): Promise<Executable> {
  const o = parseOptions(schema, options, 'compile');
  if (!g || typeof g !== 'object' || !('nodes' in g)) throw new OptionsError('compile: first argument must be a Graph');
  const backend = await createBackend(o.backend ?? 'auto', { quiet: o.quiet ?? false, profile: o.profile ?? false });
  return compileWith(g, backend, { ...o, ownsBackend: true });
}

/**
 * Wait until the GPU has finished all work submitted to it. Node exits by itself without it;
 * call it before an explicit `process.exit()` so that the process never ends with work in
 * flight. The shared device stays usable (see packages/webgpu/src/gpu.ts).
 */
export async function close(): Promise<void> {
  await closeWebGPU();
}
