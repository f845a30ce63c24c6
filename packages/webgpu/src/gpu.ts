/**
 * Finding a WebGPU implementation and a device.
 *
 * In a browser the GPU is `navigator.gpu`. In Node it is Dawn's `webgpu` package: `create([])`
 * returns a GPU object, and its `GPU*` classes/constants are installed on globalThis once.
 *
 * NOTE: Dawn's instance lives as long as the object `create()` returned is referenced, and it
 * is destroyed when that object is garbage-collected, even while devices made from it are in
 * use (the process then aborts in a Dawn thread). Every backend therefore holds a strong
 * reference to its GPU object until it is disposed; the last release drops the shared one so
 * that Node can exit.
 */
import { BackendUnavailableError } from '@kiln/core';

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

let dawn: Promise<DawnModule> | undefined;
let shared: { gpu: GPU; users: number } | undefined;

function browserGpu(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu;
}

async function loadDawn(): Promise<DawnModule> {
  const name = 'webgpu'; // a variable, so that browser bundlers leave the Node-only import alone
  dawn ??= (import(/* @vite-ignore */ name) as Promise<DawnModule>).then((m) => {
    for (const [key, value] of Object.entries(m.globals)) {
      if (!(key in globalThis)) Object.defineProperty(globalThis, key, { value, configurable: true, writable: true });
    }
    return m;
  });
  return dawn;
}

/** Take a reference to the process's GPU object (created on first use). */
export async function acquireGpu(): Promise<GPU> {
  if (!isNode) {
    const gpu = browserGpu();
    if (!gpu) throw new BackendUnavailableError('webgpu: navigator.gpu is missing (this browser has no WebGPU)');
    return gpu;
  }
  if (!shared) {
    let m: DawnModule;
    try {
      m = await loadDawn();
    } catch (e) {
      throw new BackendUnavailableError(`webgpu: cannot load Dawn's 'webgpu' package: ${(e as Error).message}`);
    }
    if (!shared) shared = { gpu: m.create([]), users: 0 };
  }
  shared.users++;
  return shared.gpu;
}

/** Drop a reference taken by acquireGpu(); the last one lets Dawn's instance go. */
export function releaseGpu(): void {
  if (!shared) return;
  if (--shared.users <= 0) shared = undefined;
}

/** Forget the shared GPU object even if backends still hold theirs (kiln.close()). */
export async function closeWebGPU(): Promise<void> {
  shared = undefined;
}

export interface AdapterChoice {
  adapter?: GPUAdapter;
  powerPreference?: GPUPowerPreference;
}

export async function requestAdapter(gpu: GPU, o: AdapterChoice): Promise<GPUAdapter> {
  if (o.adapter) return o.adapter;
  const adapter = await gpu.requestAdapter(o.powerPreference ? { powerPreference: o.powerPreference } : undefined);
  if (!adapter) throw new BackendUnavailableError('webgpu: requestAdapter() returned no adapter (no WebGPU-capable GPU or driver; on Linux install Mesa lavapipe, see scripts/install-vulkan.sh)');
  return adapter;
}

/** One line naming the adapter. Fallback (software) adapters are accepted, and say so. */
export function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info;
  const fallback = (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && s.length);
  return `webgpu: ${parts.join(' / ') || 'unknown adapter'}${fallback ? ' (fallback adapter)' : ''}`;
}

/** The limits we ask for: the adapter's own, not the spec minimums. */
const LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension',
] as const;

/** Features that help when present; none is required. */
const OPTIONAL_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups'] as const;

export async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMITS) {
    const v = adapter.limits[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  try {
    return await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    throw new BackendUnavailableError(`webgpu: requestDevice() failed: ${(e as Error).message}`);
  }
}

/** Is there a usable WebGPU adapter here? Never throws. */
export async function webgpuAvailable(): Promise<{ ok: true; description: string } | { ok: false; reason: string }> {
  let gpu: GPU | undefined;
  try {
    gpu = await acquireGpu();
    const adapter = await requestAdapter(gpu, {});
    return { ok: true, description: describeAdapter(adapter) };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  } finally {
    if (gpu) releaseGpu();
  }
}
