/**
 * Node-only file helpers shared by the readers. Node modules are imported lazily, inside
 * the functions, so that `@kiln/nn` still loads in a browser where only the pure
 * byte-level parsers are usable.
 */
import { DataFormatError } from './errors';

/** True when the bytes start with the gzip magic 0x1f 0x8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Reads a whole file, gunzipping it when it starts with the gzip magic, so that both
 * `train-images-idx3-ubyte` and `train-images-idx3-ubyte.gz` read the same.
 */
export async function readMaybeGzipped(path: string): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  const raw = await readFile(path);
  if (!isGzip(raw)) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  const { gunzip } = await import('node:zlib');
  const { promisify } = await import('node:util');
  try {
    const out = await promisify(gunzip)(raw);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw new DataFormatError(`${path}: gzip decompression failed: ${(e as Error).message}`);
  }
}
