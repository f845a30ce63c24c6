/** Backend choice: auto falls back to cpu with a reason, KILN_BACKEND forces, forced webgpu fails typed. */
import { BackendUnavailableError, OptionsError } from '@kiln/core';
import { backendFromEnv, chooseBackend, fallbackNotice, type WebgpuProbe } from '@kiln/cpu';

const up: WebgpuProbe = async () => ({ ok: true });
const down: WebgpuProbe = async () => ({ ok: false, reason: 'no WebGPU adapter' });
const never: WebgpuProbe = async () => { throw new Error('probe must not run'); };

describe('chooseBackend', () => {
  test('auto takes WebGPU when the probe answers', async () => {
    expect(await chooseBackend('auto', up, {})).toEqual({ backend: 'webgpu', reason: null, source: 'probe' });
  });

  test('auto falls back to cpu, with the reason and one notice line', async () => {
    const c = await chooseBackend('auto', down, {});
    expect(c).toEqual({ backend: 'cpu', reason: 'no WebGPU adapter', source: 'probe' });
    const line = fallbackNotice(c, 'cpu (auto)')!;
    expect(line).toMatch(/no WebGPU adapter/);
    expect(line).not.toMatch(/\n/);
    expect(fallbackNotice(await chooseBackend('auto', up, {}))).toBeNull();
  });

  test('a probe that throws counts as unavailable, its message as the reason', async () => {
    const c = await chooseBackend('auto', async () => { throw new Error('adapter lacks maxStorageBufferBindingSize'); }, {});
    expect(c.backend).toBe('cpu');
    expect(c.reason).toMatch(/maxStorageBufferBindingSize/);
  });

  test('KILN_BACKEND=cpu skips the probe; KILN_BACKEND=webgpu without an adapter is a typed error', async () => {
    expect(await chooseBackend('auto', never, { KILN_BACKEND: 'cpu' })).toEqual({ backend: 'cpu', reason: null, source: 'env' });
    await expect(chooseBackend('auto', down, { KILN_BACKEND: 'webgpu' })).rejects.toThrow(BackendUnavailableError);
    await expect(chooseBackend('auto', down, { KILN_BACKEND: 'webgpu' })).rejects.toThrow(/KILN_BACKEND=webgpu.*no WebGPU adapter/);
    expect((await chooseBackend('auto', up, { KILN_BACKEND: ' WebGPU ' })).backend).toBe('webgpu');
  });

  test('an explicit request stands over the environment', async () => {
    expect((await chooseBackend('cpu', never, { KILN_BACKEND: 'webgpu' })).backend).toBe('cpu');
    await expect(chooseBackend('webgpu', down, {})).rejects.toThrow(/backend 'webgpu'.*no WebGPU adapter/);
  });

  test('bad values are option errors', async () => {
    expect(() => backendFromEnv({ KILN_BACKEND: 'gpu' })).toThrow(OptionsError);
    expect(backendFromEnv({ KILN_BACKEND: '' })).toBeUndefined();
    await expect(chooseBackend('tpu' as 'cpu', up, {})).rejects.toThrow(OptionsError);
  });
});
