// The end-to-end fit suite on every device backend (WebGPU never skips under CI).
import { createCpuBackend } from '@kiln/cpu';
import { createWebGPUBackend, webgpuAvailable } from '@kiln/webgpu';
import { describeFit } from './fit-suite';

describeFit('cpu', () => createCpuBackend());

describeFit('webgpu', async () => {
  const r = await webgpuAvailable();
  if (!r.ok) {
    if (process.env.KILN_REQUIRE_WEBGPU === '1') throw new Error(`KILN_REQUIRE_WEBGPU=1 but no WebGPU adapter: ${r.reason}`);
    // NOTE: off CI, a machine without WebGPU runs this suite on the CPU backend and says so.
    console.warn(`fit [webgpu]: no adapter (${r.reason}); running on the CPU backend instead`);
    return createCpuBackend();
  }
  return createWebGPUBackend();
});
