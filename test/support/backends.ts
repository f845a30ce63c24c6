/**
 * The device backends every cross-backend suite runs on. WebGPU may be missing on a user's
 * machine (its suites then say so and skip), but under CI (KILN_REQUIRE_WEBGPU=1) a missing
 * adapter fails the suite: WebGPU tests never skip silently there.
 */
import type { Backend } from '@kiln/core';
import { createCpuBackend } from '@kiln/cpu';
import { createWebGPUBackend, webgpuAvailable } from '@kiln/webgpu';

export interface BackendUnderTest {
  readonly name: 'webgpu' | 'cpu';
  /** null when available; otherwise why not. */
  readonly unavailable: () => Promise<string | null>;
  readonly make: () => Promise<Backend>;
}

export const BACKENDS: readonly BackendUnderTest[] = [
  {
    name: 'webgpu',
    unavailable: async () => {
      const r = await webgpuAvailable();
      if (r.ok) return null;
      if (process.env.KILN_REQUIRE_WEBGPU === '1') throw new Error(`KILN_REQUIRE_WEBGPU=1 but no WebGPU adapter: ${r.reason}`);
      return r.reason;
    },
    make: () => createWebGPUBackend(),
  },
  { name: 'cpu', unavailable: async () => null, make: () => createCpuBackend() },
];

/**
 * describe() a suite per backend. `make` returns the suite's one shared backend, disposed after it;
 * on an unavailable backend each test logs the reason once and returns.
 */
export function describeBackends(title: string, body: (b: BackendUnderTest & { make: () => Promise<Backend> }) => void): void {
  for (const b of BACKENDS) {
    describe(`${title} [${b.name}]`, () => {
      const made: Backend[] = [];
      let reason: string | null = null;
      beforeAll(async () => {
        reason = await b.unavailable();
        if (reason) console.warn(`SKIPPED ${title} on ${b.name}: ${reason}`);
      });
      afterAll(async () => { for (const m of made.splice(0)) await m.dispose(); });
      // One backend per suite, shared by its Executables (each frees its own params).
      body({
        ...b,
        make: async () => {
          if (reason) throw new SkipBackend(reason);
          if (!made.length) made.push(await b.make());
          return made[0]!;
        },
      });
    });
  }
}

export class SkipBackend extends Error {}

/** Wrap a test body so an unavailable (non-CI) backend passes with a logged reason. */
export async function orSkip(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof SkipBackend) return;
    throw e;
  }
}
