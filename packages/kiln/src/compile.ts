/**
 * compile(g, { backend }): pick a backend and build an Executable. 'auto' uses WebGPU when an
 * adapter answers and the gpu.js CPU backend otherwise, printing one line on stderr that says
 * why; on a software adapter (lavapipe, SwiftShader, a fallback adapter) it times the graph on
 * both and keeps the faster, saying so in one line (auto.ts). KILN_BACKEND=cpu|webgpu
 * overrides 'auto'.
 */
import { type Backend, compileWith, type CompileOptions, createReferenceBackend, type Executable, type Graph, OptionsError, parseOptions } from '@kiln/core';
import { chooseBackend, createCpuBackend, fallbackNotice } from '@kiln/cpu';
import { closeWebGPU, createWebGPUBackend, webgpuAvailable } from '@kiln/webgpu';
import { z } from 'zod';
import { measureBackends, softwareAdapter } from './auto';

/** Which backend `compile` uses: 'auto' picks WebGPU when available (timing it against the CPU on a software adapter), else the CPU. */
export type BackendName = 'auto' | 'webgpu' | 'cpu' | 'reference';

/** Options of `compile`: the backend to use, plus compileWith's options. */
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

/**
 * The backend for a request, and for an 'auto' that found only a software WebGPU adapter, why
 * it is software (compile then measures the graph on both backends).
 */
async function pickBackend(request: BackendName, options: { quiet?: boolean; profile?: boolean }): Promise<{ backend: Backend; software: string | null }> {
  if (request === 'reference') return { backend: createReferenceBackend(), software: null };
  let adapter = '';
  const choice = await chooseBackend(request, async () => {
    const r = await webgpuAvailable();
    if (r.ok) adapter = r.description;
    return r.ok ? { ok: true } : { ok: false, reason: r.reason };
  });
  if (choice.backend === 'webgpu') {
    const software = request === 'auto' && choice.source === 'probe' ? softwareAdapter(adapter) : null;
    return { backend: await createWebGPUBackend({ profile: options.profile ?? false }), software };
  }
  const cpu = await createCpuBackend();
  const line = fallbackNotice(choice, cpu.description);
  if (line && !options.quiet) notice(line);
  return { backend: cpu, software: null };
}

/**
 * Create the backend `compile` would use, without compiling anything. With no graph to time,
 * 'auto' takes a software WebGPU adapter as it is.
 * @throws BackendUnavailableError if 'webgpu' is asked for and no adapter is available.
 * @example const backend = await createBackend('cpu'); const exe = await compileWith(g, backend);
 */
export async function createBackend(request: BackendName = 'auto', options: { quiet?: boolean; profile?: boolean } = {}): Promise<Backend> {
  return (await pickBackend(request, options)).backend;
}

/**
 * Compile a graph for a backend. With 'auto' on a software WebGPU adapter, the graph's
 * training step (or forward pass) is first timed on WebGPU and on the CPU backend (zero
 * feeds, symbolic dims = 64), and the faster one is kept (one stderr line unless `quiet`).
 * The Executable owns its backend: `exe.dispose()` frees both.
 * @throws OptionsError for unknown options or a first argument that is not a Graph;
 * BackendUnavailableError if the backend asked for cannot run here.
 *
 * @example
 *   const exe = await compile(g, { backend: 'auto' });
 *   console.log(exe.backend); // 'webgpu' or 'cpu'
 *   const { loss } = await exe.run({ x, y }, { loss: lossTensor }, { train: true });
 */
export async function compile(g: Graph, options: KilnCompileOptions = {}): Promise<Executable> {
  const o = parseOptions(schema, options, 'compile');
  if (!g || typeof g !== 'object' || !('nodes' in g)) throw new OptionsError('compile: first argument must be a Graph');
  let { backend, software } = await pickBackend(o.backend ?? 'auto', { quiet: o.quiet ?? false, profile: o.profile ?? false });
  if (software !== null) {
    const measured = await measureBackends(g, software, { webgpu: backend, cpu: await createCpuBackend() }, { compile: o });
    if (measured.line && !o.quiet) notice(measured.line);
    backend = measured.backend;
  }
  return compileWith(g, backend, { ...o, ownsBackend: true });
}

/**
 * Wait until the GPU has finished all work submitted to it. Node exits by itself without it;
 * call it before an explicit `process.exit()` so that the process never ends with work in
 * flight. The shared device stays usable (see packages/webgpu/src/gpu.ts).
 * @example await close(); process.exit(0);
 */
export async function close(): Promise<void> {
  await closeWebGPU();
}
