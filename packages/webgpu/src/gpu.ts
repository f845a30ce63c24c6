/**
 * Finding a WebGPU implementation and a device, and keeping them alive.
 *
 * In a browser the GPU is `navigator.gpu`. In Node it is Dawn's `webgpu` package: `create([])`
 * returns a GPU object, and its `GPU*` classes/constants are installed on globalThis once.
 *
 * NOTE: lifetimes across the native boundary. Dawn's instance lives as long as the object
 * `create()` returned is referenced; when that object is garbage-collected the instance is freed
 * even while adapters, devices or callbacks made from it are still pending, and Dawn's event
 * pump goes on using it (a hung bench was stuck in InstanceBase::ProcessEvents locking a mutex;
 * others ended by exit 134 'std::system_error', glibc futex or `__pthread_tpp_change_priority`
 * aborts, or SIGSEGV). Kiln used to drop its GPU object whenever the last backend was disposed
 * and make a new one for the next. So, in Node:
 *  - one GPU object per process, created on first use and never dropped (no second instance);
 *  - one device per adapter choice, shared by every backend and kept until the process exits
 *    (Node still exits by itself: a live device does not hold the event loop). A backend's
 *    dispose() frees its own buffers and detaches; it never destroys the device. Only a lost
 *    device is replaced, by a fresh one for the next backend.
 */
import { BackendUnavailableError } from '@kiln/core';

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** The process's GPU object; never reset (see the NOTE above). */
let processGpu: Promise<GPU> | undefined;

function browserGpu(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu;
}

async function createNodeGpu(): Promise<GPU> {
  const name = 'webgpu'; // a variable, so that browser bundlers leave the Node-only import alone
  let m: DawnModule;
  try {
    m = (await import(/* @vite-ignore */ name)) as DawnModule;
  } catch (e) {
    throw new BackendUnavailableError(`webgpu: cannot load Dawn's 'webgpu' package: ${(e as Error).message}`);
  }
  for (const [key, value] of Object.entries(m.globals)) {
    if (!(key in globalThis)) Object.defineProperty(globalThis, key, { value, configurable: true, writable: true });
  }
  return m.create([]);
}

/** The process's GPU object: `navigator.gpu` in a browser, Dawn's (created once) in Node. */
export async function getGpu(): Promise<GPU> {
  if (!isNode) {
    const gpu = browserGpu();
    if (!gpu) throw new BackendUnavailableError('webgpu: navigator.gpu is missing (this browser has no WebGPU)');
    return gpu;
  }
  if (!processGpu) {
    const made = createNodeGpu();
    processGpu = made;
    // A failed load may succeed later (after installing the package): failures are not kept.
    made.catch(() => { if (processGpu === made) processGpu = undefined; });
  }
  return processGpu;
}

/** What a backend hears from the device it shares. */
export interface DeviceListener {
  /** The device was lost (destroyed by someone else, driver reset, out of memory). */
  lost(message: string): void;
  /** An error no error scope caught; it cannot be attributed to one backend, so all hear it. */
  uncaptured(message: string): void;
}

/** A device shared by every backend made with the same adapter choice. */
export interface SharedDevice {
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  /** Attach a backend; the returned function detaches it (dispose). */
  attach(listener: DeviceListener): () => void;
}

/**
 * Devices by adapter choice: a caller's own adapter object, or the power preference. Entries
 * are strong on purpose: a device collected by the GC is a device destroyed at a random moment.
 */
const devices = new Map<GPUAdapter | string, Promise<SharedDevice>>();

function share(adapter: GPUAdapter, device: GPUDevice, forget: () => void): SharedDevice {
  const listeners = new Set<DeviceListener>();
  device.lost.then((info) => {
    forget();
    for (const l of [...listeners]) l.lost(`webgpu: device lost (${info.reason}): ${info.message}`);
  }, () => {});
  device.onuncapturederror = (ev) => {
    for (const l of [...listeners]) l.uncaptured(`webgpu: uncaptured ${ev.error.constructor.name}: ${ev.error.message}`);
  };
  return {
    adapter,
    device,
    attach(listener) {
      listeners.add(listener);
      return () => { listeners.delete(listener); };
    },
  };
}

/**
 * The shared device for an adapter choice, requested on first use and kept until the process
 * exits (or the device is lost; the next call then makes a new one).
 */
export function acquireDevice(o: AdapterChoice = {}): Promise<SharedDevice> {
  const key = o.adapter ?? `default:${o.powerPreference ?? ''}`;
  let entry = devices.get(key);
  if (!entry) {
    const made: Promise<SharedDevice> = (async () => {
      const adapter = await requestAdapter(await getGpu(), o);
      const device = await requestDevice(adapter);
      return share(adapter, device, () => { if (devices.get(key) === made) devices.delete(key); });
    })();
    entry = made;
    devices.set(key, made);
    made.catch(() => { if (devices.get(key) === made) devices.delete(key); });
  }
  return entry;
}

/**
 * Wait until every shared device has finished the work submitted to it. Call it before
 * `process.exit()` so that the process never tears Dawn down with work in flight; devices stay
 * usable afterwards (nothing is destroyed).
 */
export async function closeWebGPU(): Promise<void> {
  const live = await Promise.allSettled([...devices.values()]);
  await Promise.all(live.map((r) => (r.status === 'fulfilled' ? r.value.device.queue.onSubmittedWorkDone().catch(() => undefined) : undefined)));
}

export interface AdapterChoice {
  adapter?: GPUAdapter;
  powerPreference?: GPUPowerPreference;
}

export async function requestAdapter(gpu: GPU, o: AdapterChoice): Promise<GPUAdapter> {
  if (o.adapter) return o.adapter;
  const adapter = await gpu.requestAdapter(o.powerPreference ? { powerPreference: o.powerPreference } : undefined);
  if (!adapter) throw new BackendUnavailableError(`webgpu: requestAdapter() returned no adapter (${isNode ? 'no WebGPU-capable GPU or driver; on Linux install Mesa lavapipe, see scripts/install-vulkan.sh' : 'this browser offers WebGPU but no adapter: its GPU may be blocklisted or WebGPU disabled'})`);
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

/**
 * Is there a usable WebGPU device here? Never throws. The device it asks for is the shared
 * default one, so a backend created next reuses it.
 */
export async function webgpuAvailable(): Promise<{ ok: true; description: string } | { ok: false; reason: string }> {
  try {
    const { adapter } = await acquireDevice({});
    return { ok: true, description: describeAdapter(adapter) };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}
