/**
 * Node built-ins without an `import` a bundler can see.
 *
 * Kiln runs in Node and in a page from the same build. A static `import 'node:fs'` (or a dynamic
 * one with a literal name) makes a browser bundler fail to resolve it, or makes the bundle fail
 * to load; so the few places that need a Node module (file loaders, checkpoints, trace export,
 * core counts, gpu.js's CommonJS loader) ask for it here, at the moment they need it, through
 * `process.getBuiltinModule` (Node >= 20.16), which is synchronous and invisible to bundlers.
 *
 * Example:
 *   const { readFile } = nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises', 'readText');
 */
import { UnsupportedError } from './errors';

interface NodeProcess {
  versions?: { node?: string };
  getBuiltinModule?: (id: string) => unknown;
}

function nodeProcess(): NodeProcess | undefined {
  const p = (globalThis as { process?: NodeProcess }).process;
  return p?.versions?.node ? p : undefined;
}

/** True under Node (not in a page, even one with a `process` shim from a bundler). */
export function isNode(): boolean {
  return nodeProcess() !== undefined;
}

/**
 * A Node built-in module, e.g. `nodeBuiltin<typeof import('node:path')>('node:path', 'loadMnist')`.
 * Throws UnsupportedError naming `what` outside Node (a browser has no file system), and when the
 * Node is older than 20.16 (no `process.getBuiltinModule`).
 */
export function nodeBuiltin<T>(id: `node:${string}`, what: string): T {
  const p = nodeProcess();
  if (!p) throw new UnsupportedError(`${what} needs Node's '${id}', which a browser does not have`);
  if (!p.getBuiltinModule) throw new UnsupportedError(`${what} needs Node >= 20.16 (process.getBuiltinModule); this is Node ${p.versions?.node}`);
  return p.getBuiltinModule(id) as T;
}

/**
 * Logical CPU cores: `os.availableParallelism()` in Node, `navigator.hardwareConcurrency` in a page
 * (and in a Node too old for getBuiltinModule); 1 when neither answers. Never throws: it only sizes
 * worker pools and the CPU backend's GEMM policy.
 */
export function hardwareConcurrency(): number {
  if (nodeProcess()?.getBuiltinModule) {
    const os = nodeBuiltin<typeof import('node:os')>('node:os', 'hardwareConcurrency');
    return (os.availableParallelism?.() ?? os.cpus().length) || 1;
  }
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency || 1;
}

/**
 * `bytes` as a plain Uint8Array that owns its whole buffer (byteOffset 0): itself when it
 * already is one, else a copy. Node's Buffers (fs.readFile, protobufjs's encoder) may be views
 * into a shared pool, whose `.buffer` holds unrelated bytes and whose `.slice()` does not copy;
 * public APIs that return bytes pass them through here.
 *
 * @example
 * const bytes = ownedBytes(await fs.readFile(path)); // bytes.buffer is this file's bytes only
 */
export function ownedBytes(bytes: Uint8Array): Uint8Array {
  const plain = Object.getPrototypeOf(bytes) === Uint8Array.prototype;
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) {
    return plain ? bytes : new Uint8Array(bytes.buffer);
  }
  return new Uint8Array(bytes);
}
