/**
 * Backend choice, without anything WebGPU-specific: the `kiln` package passes a probe (does a
 * WebGPU adapter answer, with the limits we need?) and gets a decision, the reason for a
 * fallback, and the one line to print on stderr.
 *
 * Rules: `KILN_BACKEND=cpu|webgpu` overrides a request of 'auto' (an explicit 'cpu' or 'webgpu'
 * in code stands); 'auto' takes WebGPU when the probe succeeds and the CPU backend otherwise;
 * a forced 'webgpu' whose probe fails is a BackendUnavailableError carrying the probe's reason.
 */
import { BackendUnavailableError, OptionsError } from '@kiln/core';

export type BackendRequest = 'auto' | 'webgpu' | 'cpu';
export type WebgpuProbe = () => Promise<{ ok: true } | { ok: false; reason: string }>;

export interface BackendChoice {
  readonly backend: 'webgpu' | 'cpu';
  /** Why WebGPU was not used (null when it was, or when 'cpu' was asked for). */
  readonly reason: string | null;
  /** Where the decision came from. */
  readonly source: 'option' | 'env' | 'probe';
}

export const BACKEND_ENV = 'KILN_BACKEND';

/** Node's environment; empty in a page (no `process` there, and no KILN_BACKEND to read). */
function processEnv(): Readonly<Record<string, string | undefined>> {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
}

/** Read KILN_BACKEND; undefined when unset or empty. */
export function backendFromEnv(env: Readonly<Record<string, string | undefined>> = processEnv()): 'webgpu' | 'cpu' | 'auto' | undefined {
  const v = env[BACKEND_ENV]?.trim().toLowerCase();
  if (!v) return undefined;
  if (v === 'cpu' || v === 'webgpu' || v === 'auto') return v;
  throw new OptionsError(`${BACKEND_ENV}=${env[BACKEND_ENV]} is not a backend: use 'cpu', 'webgpu' or 'auto'`);
}

export async function chooseBackend(request: BackendRequest, probe: WebgpuProbe, env: Readonly<Record<string, string | undefined>> = processEnv()): Promise<BackendChoice> {
  if (!['auto', 'webgpu', 'cpu'].includes(request)) throw new OptionsError(`backend must be 'auto', 'webgpu' or 'cpu', got '${String(request)}'`);
  const fromEnv = request === 'auto' ? backendFromEnv(env) : undefined;
  const wanted = fromEnv && fromEnv !== 'auto' ? fromEnv : request;
  const source = fromEnv && fromEnv !== 'auto' ? 'env' : request === 'auto' ? 'probe' : 'option';
  if (wanted === 'cpu') return { backend: 'cpu', reason: null, source };
  let result: Awaited<ReturnType<WebgpuProbe>>;
  try {
    result = await probe();
  } catch (e) {
    result = { ok: false, reason: (e as Error).message || String(e) };
  }
  if (result.ok) return { backend: 'webgpu', reason: null, source };
  if (wanted === 'webgpu') {
    const how = source === 'env' ? `${BACKEND_ENV}=webgpu` : "backend 'webgpu'";
    throw new BackendUnavailableError(`${how} was requested but WebGPU is unavailable: ${result.reason}`);
  }
  return { backend: 'cpu', reason: result.reason, source };
}

/** The one stderr line for a fallback; null when there was none to report. */
export function fallbackNotice(choice: BackendChoice, cpuDescription?: string): string | null {
  if (choice.backend !== 'cpu' || choice.reason === null) return null;
  return `kiln: WebGPU unavailable (${choice.reason}); running on the CPU backend${cpuDescription ? ` [${cpuDescription}]` : ''}. Set ${BACKEND_ENV}=cpu to skip the WebGPU probe.`;
}
