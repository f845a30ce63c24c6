/**
 * Watching what the WebGPU backend really does to its device, instead of trusting counters
 * the backend keeps itself: every createBuffer and buffer.destroy(), every queue.submit, every
 * dispatchWorkgroups, every query set. The real GPUDevice is instrumented in place (the
 * objects stay Dawn's own, so the backend cannot tell) before the backend sees it: the test
 * hands createWebGPUBackend an adapter whose requestDevice() returns the watched device.
 */
import { createWebGPUBackend, type WebGPUBackend, type WebGPUBackendOptions } from '@kiln/webgpu';
import { getGpu, requestAdapter } from '../../packages/webgpu/src/gpu';

export interface BufferRecord {
  readonly label: string;
  readonly size: number;
  readonly usage: number;
  destroyed: boolean;
}

export class DeviceSpy {
  readonly buffers: BufferRecord[] = [];
  submits = 0;
  commandBuffers = 0;
  dispatches = 0;
  computePasses = 0;
  querySetsLive = 0;
  /** Buffers still alive when the device itself was destroyed (only the device freed them). */
  aliveAtDeviceDestroy: BufferRecord[] | undefined;

  /** Buffers created and not destroyed. */
  get live(): BufferRecord[] { return this.buffers.filter((b) => !b.destroyed); }
  get liveBytes(): number { return this.live.reduce((a, b) => a + b.size, 0); }

  /** What happens to the device while `f` runs: submits, dispatches, buffers made and freed. */
  async during<T>(f: () => Promise<T>): Promise<{ result: T; submits: number; dispatches: number; created: number; liveBytesDelta: number }> {
    const s0 = this.submits, d0 = this.dispatches, c0 = this.buffers.length, b0 = this.liveBytes;
    const result = await f();
    return { result, submits: this.submits - s0, dispatches: this.dispatches - d0, created: this.buffers.length - c0, liveBytesDelta: this.liveBytes - b0 };
  }

  attach(device: GPUDevice): GPUDevice {
    const createBuffer = device.createBuffer.bind(device);
    device.createBuffer = (d: GPUBufferDescriptor) => {
      const buffer = createBuffer(d);
      const rec: BufferRecord = { label: d.label ?? '', size: d.size, usage: d.usage, destroyed: false };
      this.buffers.push(rec);
      const destroy = buffer.destroy.bind(buffer);
      buffer.destroy = () => {
        rec.destroyed = true;
        destroy();
      };
      return buffer;
    };
    const createQuerySet = device.createQuerySet.bind(device);
    device.createQuerySet = (d: GPUQuerySetDescriptor) => {
      const qs = createQuerySet(d);
      this.querySetsLive++;
      const destroy = qs.destroy.bind(qs);
      let done = false;
      qs.destroy = () => {
        if (!done) this.querySetsLive--;
        done = true;
        destroy();
      };
      return qs;
    };
    const queue = device.queue;
    const submit = queue.submit.bind(queue);
    queue.submit = (cbs: Iterable<GPUCommandBuffer>) => {
      this.submits++;
      const list = [...cbs];
      this.commandBuffers += list.length;
      submit(list);
    };
    const createCommandEncoder = device.createCommandEncoder.bind(device);
    device.createCommandEncoder = (d?: GPUCommandEncoderDescriptor) => {
      const encoder = createCommandEncoder(d);
      const beginComputePass = encoder.beginComputePass.bind(encoder);
      encoder.beginComputePass = (pd?: GPUComputePassDescriptor) => {
        const pass = beginComputePass(pd);
        this.computePasses++;
        const dispatch = pass.dispatchWorkgroups.bind(pass);
        pass.dispatchWorkgroups = (x: number, y?: number, z?: number) => {
          this.dispatches++;
          dispatch(x, y, z);
        };
        return pass;
      };
      return encoder;
    };
    const destroyDevice = device.destroy.bind(device);
    device.destroy = () => {
      this.aliveAtDeviceDestroy ??= this.live.slice();
      destroyDevice();
    };
    return device;
  }
}

/** A WebGPU backend whose device is watched from its creation on. */
export async function spiedWebGPUBackend(options: Omit<WebGPUBackendOptions, 'adapter'> = {}): Promise<{ backend: WebGPUBackend; spy: DeviceSpy }> {
  // A fresh adapter, so the backend gets a device of its own (devices are shared per adapter).
  const adapter = await requestAdapter(await getGpu(), {});
  const spy = new DeviceSpy();
  const requestDevice = adapter.requestDevice.bind(adapter);
  adapter.requestDevice = async (d?: GPUDeviceDescriptor) => spy.attach(await requestDevice(d));
  const backend = await createWebGPUBackend({ ...options, adapter });
  return { backend, spy };
}
