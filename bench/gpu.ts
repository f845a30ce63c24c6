/**
 * WebGPU in Node through Dawn (the `webgpu` npm package): one GPU object per process, created on
 * first use and kept until the process exits (a collected one frees Dawn's instance under live
 * devices; see packages/webgpu/src/gpu.ts). Each engine runs in a process of its own (isolate.ts).
 *
 * `installWebGpu()` loads Dawn once, copies its `GPU*` classes onto globalThis (libraries test
 * `instanceof GPUBuffer` and read `GPUBufferUsage.STORAGE`, ...), and exposes the `GPU` object
 * as `navigator.gpu`. Node 21+ ships a read-only `navigator` getter, so navigator is redefined
 * with Object.defineProperty when it exists and created otherwise.
 *
 * Set XDG_RUNTIME_DIR (the `pnpm bench` script does) or Mesa's lavapipe warns on every start.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  features: string[];
  limits: Record<string, number>;
}

let dawn: Promise<DawnModule> | undefined;
let installed: Promise<GPU> | undefined;

/**
 * Where `webgpu` resolves from. bench/ has no direct dependency on it; it is found from the
 * `@kiln/webgpu` package, which does.
 */
export function resolveDawnEntry(): string {
  const candidates = [import.meta.url, new URL('../packages/webgpu/package.json', import.meta.url).href];
  for (const from of candidates) {
    try {
      return createRequire(from).resolve('webgpu');
    } catch {
      // try the next place
    }
  }
  throw new Error("cannot resolve the 'webgpu' package (Dawn) from bench/ or packages/webgpu/");
}

function loadDawn(): Promise<DawnModule> {
  dawn ??= import(pathToFileURL(resolveDawnEntry()).href) as Promise<DawnModule>;
  return dawn;
}

/** Dawn's `GPU`, installed as `navigator.gpu`; the same object on every call. */
export function installWebGpu(flags: string[] = []): Promise<GPU> {
  installed ??= (async () => {
    const { create, globals } = await loadDawn();
    for (const [key, value] of Object.entries(globals)) {
      if (!(key in globalThis)) Object.defineProperty(globalThis, key, { value, configurable: true, writable: true });
    }
    const gpu = create(flags);
    const existing = (globalThis as { navigator?: object }).navigator;
    const nav = Object.assign(Object.create(null) as object, existing ? { userAgent: (existing as Navigator).userAgent } : {}, { gpu });
    Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
    return gpu;
  })();
  return installed;
}

/** The default adapter's identity, features and limits, or a reason string when there is none. */
export async function describeAdapter(): Promise<AdapterSummary | string> {
  try {
    const gpu = await installWebGpu();
    const adapter = await gpu.requestAdapter();
    if (!adapter) return 'no WebGPU adapter';
    const info = adapter.info;
    const limits: Record<string, number> = {};
    for (const key of ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupsPerDimension', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupStorageSize'] as const) {
      limits[key] = Number(adapter.limits[key]);
    }
    return {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      features: [...adapter.features].map(String).sort(),
      limits,
    };
  } catch (error) {
    return `WebGPU unavailable: ${(error as Error).message}`;
  }
}

/** The installed version of the Dawn package, or null. */
export function dawnVersion(): string | null {
  try {
    const entry = resolveDawnEntry();
    return (createRequire(entry)('./package.json') as { version: string }).version;
  } catch {
    return null;
  }
}
