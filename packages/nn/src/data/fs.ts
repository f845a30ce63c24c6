/**
 * Node-only file helpers shared by the readers. Node modules are imported lazily, inside
 * the functions, so that `@kiln/nn` still loads in a browser where only the pure
 * byte-level parsers are usable.
 */
import { nodeBuiltin, ownedBytes } from '@kiln/core';
import { DataFormatError } from './errors';

/** True when the bytes start with the gzip magic 0x1f 0x8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** A failed file-system call as a DataFormatError naming the file and the operation (the Node error is its cause). */
export function fileError(path: string, operation: string, cause: unknown): DataFormatError {
  // NOTE: not `instanceof Error`: errors from Node's own modules may come from another realm (vm, Jest).
  const message = (cause as { message?: unknown } | null)?.message;
  const detail = typeof message === 'string' ? message : String(cause);
  return new DataFormatError(`${path}: cannot ${operation}: ${detail}`, { cause });
}

/** Bytes read to find a plain file's header (an IDX header is at most 4 + 4 * 255). */
const HEAD_BYTES = 4096;

/** How much a reader may bring into memory, checked while reading. */
export interface ReadLimits {
  /** Refuse content (after gunzip) over this many bytes. */
  maxBytes: number;
  /**
   * The exact size, in bytes, that the content's header declares, given its first bytes;
   * `undefined` while the header is still incomplete. Throws a DataFormatError for a bad or
   * inconsistent header, which then stops the read at once.
   */
  declaredSize?: (head: Uint8Array) => number | undefined;
}

/**
 * Reads a whole file, gunzipping it when it starts with the gzip magic, so that both
 * `train-images-idx3-ubyte` and `train-images-idx3-ubyte.gz` read the same.
 *
 * Sizes are checked while reading: a plain file over `maxBytes`, or longer than its header
 * declares, is refused before its body is read, and a gzip stream is inflated chunk by chunk and refused as soon as it passes the
 * size its header declares (or `maxBytes`), so a small crafted `.gz` cannot make the host
 * inflate gigabytes before the parser sees the mismatch. Whatever is shorter than declared
 * is left to the format's parser, which names the expected and the actual size.
 *
 * @throws DataFormatError naming `path`: the file cannot be opened or read, the gzip stream
 *   is corrupt, the header is bad, or the content is too large.
 */
export async function readDataFile(path: string, limits: ReadLimits): Promise<Uint8Array> {
  const { open } = nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises', 'reading a data file');
  let fh: import('node:fs/promises').FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw fileError(path, 'open', e);
  }
  try {
    let size: number;
    const magic = new Uint8Array(2);
    try {
      size = (await fh.stat()).size;
      await fh.read(magic, 0, 2, 0);
    } catch (e) {
      throw fileError(path, 'read', e);
    }
    if (!isGzip(magic)) {
      if (size > limits.maxBytes) throw new DataFormatError(`${path}: ${size} bytes, over the ${limits.maxBytes}-byte limit`);
      if (limits.declaredSize) {
        // Check the header before reading the rest: a file longer than it declares is refused
        // unread (a shorter one is read, and the parser names both sizes).
        const head = new Uint8Array(Math.min(size, HEAD_BYTES));
        try {
          await fh.read(head, 0, head.length, 0);
        } catch (e) {
          throw fileError(path, 'read', e);
        }
        const declared = limits.declaredSize(head);
        if (declared !== undefined && size > declared) {
          throw new DataFormatError(`${path}: trailing bytes: the header declares ${declared} bytes, the file has ${size}`);
        }
      }
      try {
        const raw = await fh.readFile();
        return ownedBytes(raw);
      } catch (e) {
        throw fileError(path, 'read', e);
      }
    }
    return await gunzipBounded(path, fh, limits);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function gunzipBounded(path: string, fh: import('node:fs/promises').FileHandle, limits: ReadLimits): Promise<Uint8Array> {
  const { createGunzip } = nodeBuiltin<typeof import('node:zlib')>('node:zlib', 'reading a data file');
  const source = fh.createReadStream({ start: 0, autoClose: false });
  const gunzip = createGunzip();
  let readFailure: unknown;
  source.on('error', (e) => { readFailure = e; gunzip.destroy(e); });
  source.pipe(gunzip);
  const chunks: Uint8Array[] = [];
  let total = 0;
  let declared: number | undefined;
  try {
    for await (const chunk of gunzip as AsyncIterable<Uint8Array>) {
      chunks.push(chunk);
      total += chunk.length;
      if (declared === undefined && limits.declaredSize) {
        // A header is a few bytes to a few KiB: this concatenates only while it is incomplete.
        declared = limits.declaredSize(chunks.length === 1 ? chunk : concat(chunks, total));
        if (declared !== undefined && declared > limits.maxBytes) {
          throw new DataFormatError(`${path}: the header declares ${declared} bytes, over the ${limits.maxBytes}-byte limit`);
        }
      }
      if (declared !== undefined && total > declared) {
        throw new DataFormatError(
          `${path}: trailing bytes: the header declares ${declared} bytes, the gzip content is longer ` +
            `(stopped after inflating ${total})`,
        );
      }
      if (total > limits.maxBytes) {
        throw new DataFormatError(`${path}: the gzip content passes the ${limits.maxBytes}-byte limit (stopped after inflating ${total})`);
      }
    }
  } catch (e) {
    if (e instanceof DataFormatError) throw e;
    if (readFailure !== undefined) throw fileError(path, 'read', readFailure);
    throw new DataFormatError(`${path}: gzip decompression failed: ${(e as Error).message}`, { cause: e });
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  return concat(chunks, total);
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return ownedBytes(chunks[0]!);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

/**
 * Awaits every task and returns their results in order. When some fail, the error does not
 * depend on which failure happened first: a single failure is rethrown as is; several
 * DataFormatErrors become one, their messages joined in task order.
 */
export async function allInOrder<T extends readonly unknown[]>(tasks: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(tasks);
  const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
  if (failures.length === 1 || (failures.length > 1 && !failures.every((f) => f instanceof DataFormatError))) {
    throw failures[0];
  }
  if (failures.length > 1) {
    throw new DataFormatError(failures.map((f) => (f as Error).message).join('; '), { cause: new AggregateError(failures) });
  }
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
