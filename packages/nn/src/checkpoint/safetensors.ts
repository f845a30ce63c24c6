/**
 * safetensors (https://github.com/huggingface/safetensors), the checkpoint format:
 *
 *   8 bytes   N, the header length, u64 little-endian
 *   N bytes   UTF-8 JSON: { "__metadata__"?: {string: string},
 *                           "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ... }
 *             padded with spaces to a multiple of 8 bytes
 *   the rest  raw little-endian tensor data, row-major; offsets count from the first byte
 *             after the header, tensors packed back to back with no gaps, up to the end.
 *
 * The writer follows the reference (Rust) one byte for byte: tensors sorted by dtype,
 * widest first, then by name; `__metadata__` first; 8-byte padding. With the data section
 * 8-aligned and wide dtypes first, every tensor starts aligned to its element size, which
 * is what lets readers map tensors without copying.
 */
import { z } from 'zod';
import { readFileChecked, writeFileAtomic } from './atomic';
import { CheckpointError } from './errors';
import { bytesArg, check, optional, opts, pathArg, stringArg } from '../args';

// Reference dtype table, in the reference's enum order (increasing alignment); the writer
// sorts by the reverse of this order.
const DTYPES = {
  BOOL: { size: 1, array: Uint8Array },
  U8: { size: 1, array: Uint8Array },
  I8: { size: 1, array: Int8Array },
  // 8- and 16-bit floats have no JS array type: their raw bit patterns are kept as is.
  F8_E5M2: { size: 1, array: Uint8Array },
  F8_E4M3: { size: 1, array: Uint8Array },
  I16: { size: 2, array: Int16Array },
  U16: { size: 2, array: Uint16Array },
  F16: { size: 2, array: Uint16Array },
  BF16: { size: 2, array: Uint16Array },
  I32: { size: 4, array: Int32Array },
  U32: { size: 4, array: Uint32Array },
  F32: { size: 4, array: Float32Array },
  F64: { size: 8, array: Float64Array },
  I64: { size: 8, array: BigInt64Array },
  U64: { size: 8, array: BigUint64Array },
} as const;

/** A safetensors dtype name (F32, I32, U8, ...), as the file header spells it. */
export type SafetensorsDtype = keyof typeof DTYPES;

/** The typed array holding each dtype (any backing buffer, so views and subarrays fit). */
export interface SafetensorsArrays {
  BOOL: Uint8Array; U8: Uint8Array; I8: Int8Array; F8_E5M2: Uint8Array; F8_E4M3: Uint8Array;
  I16: Int16Array; U16: Uint16Array; F16: Uint16Array; BF16: Uint16Array;
  I32: Int32Array; U32: Uint32Array; F32: Float32Array; F64: Float64Array;
  I64: BigInt64Array; U64: BigUint64Array;
}
type ArrayOf<D extends SafetensorsDtype> = SafetensorsArrays[D];

/** One tensor: a dtype, its shape, and `prod(shape)` elements in the matching typed array. */
export type SafetensorsTensor = {
  [D in SafetensorsDtype]: { dtype: D; shape: number[]; data: ArrayOf<D> };
}[SafetensorsDtype];

/** A parsed safetensors file: its tensors by name and its string metadata. */
export interface SafetensorsFile {
  /** Tensors in file (offset) order. */
  tensors: Record<string, SafetensorsTensor>;
  /** The `__metadata__` strings; `{}` when the file has none. */
  metadata: Record<string, string>;
}

const DTYPE_ORDER = Object.keys(DTYPES) as SafetensorsDtype[];
const isDtype = (d: string): d is SafetensorsDtype => Object.hasOwn(DTYPES, d);
/** The reference refuses headers over 100 MB: a corrupt length must not allocate gigabytes. */
const MAX_HEADER_BYTES = 100_000_000;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses each `size`-byte group in place (little- to big-endian and back). */
function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function checkBool(file: string, name: string, data: Uint8Array): void {
  const bad = data.findIndex((v) => v > 1);
  if (bad >= 0) throw new CheckpointError(`${file}: tensor '${name}': BOOL element ${bad} is ${data[bad]}, expected 0 or 1`);
}

/**
 * Serializes tensors (and optional string metadata) to safetensors bytes.
 *
 * @example
 * const bytes = encodeSafetensors(
 *   { w: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } },
 *   { format: 'kiln' },
 * );
 */
export function encodeSafetensors(tensors: Record<string, SafetensorsTensor>, metadata?: Record<string, string>): Uint8Array {
  check('encodeSafetensors', [opts('tensors'), optional(opts('metadata'))], [tensors, metadata]);
  const file = 'encodeSafetensors';
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new CheckpointError(`${file}: '__metadata__' is reserved and cannot name a tensor`);
    const info = isDtype(t.dtype) ? DTYPES[t.dtype] : undefined;
    if (info === undefined) throw new CheckpointError(`${file}: tensor '${name}': unknown dtype '${String(t.dtype)}'`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(`${file}: tensor '${name}': shape [${t.shape}] must be non-negative integers`);
    }
    if (!(t.data instanceof info.array)) {
      throw new CheckpointError(`${file}: tensor '${name}': dtype ${t.dtype} needs a ${info.array.name}, got ${t.data?.constructor?.name}`);
    }
    if (t.data.length !== numel(t.shape)) {
      throw new CheckpointError(`${file}: tensor '${name}': shape [${t.shape}] holds ${numel(t.shape)} elements, data has ${t.data.length}`);
    }
    if (t.dtype === 'BOOL') checkBool(file, name, t.data);
  }
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (typeof v !== 'string') throw new CheckpointError(`${file}: metadata '${k}' must be a string, got ${typeof v}`);
  }
  entries.sort(([an, a], [bn, b]) => DTYPE_ORDER.indexOf(b.dtype) - DTYPE_ORDER.indexOf(a.dtype) || (an < bn ? -1 : an > bn ? 1 : 0));

  // The JSON is assembled by hand: a JS object would move integer-like keys ("0", "1")
  // to the front and treat "__proto__" specially.
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const [name, t] of entries) {
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] })}`);
    offset = end;
  }
  const header = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = header.length + ((8 - (header.length % 8)) % 8);

  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(header, 8);
  out.fill(0x20, 8 + header.length, 8 + padded); // spaces: still valid JSON whitespace
  let at = 8 + padded;
  for (const [, t] of entries) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(bytes, at);
    if (!LITTLE_ENDIAN_HOST) swapBytes(out.subarray(at, at + bytes.length), DTYPES[t.dtype].size);
    at += bytes.length;
  }
  return out;
}

const TensorInfoSchema = z.object({
  dtype: z.string(),
  shape: z.array(z.int().nonnegative()),
  data_offsets: z.tuple([z.int().nonnegative(), z.int().nonnegative()]),
});
const MetadataSchema = z.record(z.string(), z.string());

const issue = (e: z.ZodError) => e.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ');

/**
 * Parses safetensors bytes, copying each tensor into its own typed array. Refuses, with a
 * CheckpointError naming `file` and the tensor: a truncated file, a header length beyond
 * the file, a header that is not UTF-8 JSON, an unknown dtype, offsets that are out of
 * range, overlap, leave gaps or do not match dtype x shape, and trailing bytes.
 *
 * @example
 * const { tensors, metadata } = decodeSafetensors(bytes, 'model.safetensors');
 * const w = tensors['w']; // { dtype: 'F32', shape: [2, 2], data: Float32Array }
 */
export function decodeSafetensors(bytes: Uint8Array, file = 'safetensors'): SafetensorsFile {
  check('decodeSafetensors', [bytesArg(), optional(stringArg('file'))], [bytes, file]);
  if (bytes.length < 8) {
    throw new CheckpointError(`${file}: truncated: ${bytes.length} bytes, the 8-byte header length alone needs 8`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new CheckpointError(`${file}: header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit (file is ${bytes.length} bytes)`);
  }
  const headerEnd = 8 + Number(n);
  if (headerEnd > bytes.length) {
    throw new CheckpointError(`${file}: truncated: header length ${n} reaches byte ${headerEnd}, beyond the file's ${bytes.length} bytes`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, headerEnd)));
  } catch (e) {
    throw new CheckpointError(`${file}: header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CheckpointError(`${file}: header must be a JSON object`);
  }

  const dataBytes = bytes.length - headerEnd;
  let metadata: Record<string, string> = {};
  const infos: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      const m = MetadataSchema.safeParse(raw);
      if (!m.success) throw new CheckpointError(`${file}: __metadata__ must map strings to strings (${issue(m.error)})`);
      metadata = m.data;
      continue;
    }
    const r = TensorInfoSchema.safeParse(raw);
    if (!r.success) throw new CheckpointError(`${file}: tensor '${name}': malformed entry (${issue(r.error)})`);
    const { dtype, shape, data_offsets: [begin, end] } = r.data;
    if (!isDtype(dtype)) throw new CheckpointError(`${file}: tensor '${name}': unknown dtype '${dtype}'`);
    if (begin > end || end > dataBytes) {
      throw new CheckpointError(`${file}: tensor '${name}': data_offsets [${begin}, ${end}] out of range, the data section has ${dataBytes} bytes`);
    }
    const need = numel(shape) * DTYPES[dtype].size;
    if (need !== end - begin) {
      throw new CheckpointError(`${file}: tensor '${name}': data_offsets [${begin}, ${end}] span ${end - begin} bytes, ${dtype} [${shape}] needs ${need}`);
    }
    infos.push({ name, dtype, shape, begin, end });
  }

  // Tensors must tile the data section exactly, as the reference reader demands: any
  // overlap, gap or tail means a corrupt file or one written by a broken writer.
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expect = 0;
  let prev = '';
  for (const t of infos) {
    if (t.begin < expect) throw new CheckpointError(`${file}: tensor '${t.name}': data_offsets [${t.begin}, ${t.end}] overlap tensor '${prev}' (which ends at ${expect})`);
    if (t.begin > expect) throw new CheckpointError(`${file}: tensor '${t.name}': data_offsets [${t.begin}, ${t.end}] leave a gap after byte ${expect}`);
    expect = t.end;
    prev = t.name;
  }
  if (expect !== dataBytes) {
    throw new CheckpointError(`${file}: ${dataBytes - expect} trailing bytes after the last tensor (data section ${dataBytes} bytes, tensors cover ${expect})`);
  }

  const tensors: [string, SafetensorsTensor][] = infos.map(({ name, dtype, shape, begin, end }) => {
    // Copy into a fresh, aligned buffer of exactly the tensor's size: the file's offsets need
    // not be aligned for the typed array, and the result must not pin the whole file in memory.
    // NOTE: not bytes.slice(): on a Node Buffer that is a view into a shared pool, and the
    // typed array below would span the whole pool.
    const copy = new Uint8Array(end - begin);
    copy.set(bytes.subarray(headerEnd + begin, headerEnd + end));
    if (!LITTLE_ENDIAN_HOST) swapBytes(copy, DTYPES[dtype].size);
    const data = new DTYPES[dtype].array(copy.buffer);
    if (dtype === 'BOOL') checkBool(file, name, data as Uint8Array);
    return [name, { dtype, shape, data } as SafetensorsTensor];
  });
  // fromEntries defines own properties, so even a tensor named "__proto__" survives.
  return { tensors: Object.fromEntries(tensors), metadata };
}

/**
 * Writes a safetensors file atomically and durably: to a temporary file in the same folder,
 * fsynced, renamed over `path`, then the folder fsynced, so a crash mid-save never leaves a
 * half-written checkpoint, and the temporary files of a save that was killed are removed by
 * the next save or load of `path`. Missing folders are created.
 *
 * @throws OptionsError for a missing or wrong-typed argument; CheckpointError for tensors that
 *   cannot be encoded (before touching the disk), or
 *   naming `path` and the failed operation, with the Node error (EISDIR, EACCES, ENOSPC,
 *   ENAMETOOLONG, ...) as its cause.
 * @example
 * await saveSafetensors('checkpoints/mlp.safetensors', { w: { dtype: 'F32', shape: [2], data: w } }, { step: '100' });
 */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  check('saveSafetensors', [pathArg(), opts('tensors'), optional(opts('metadata'))], [path, tensors, metadata]);
  const bytes = encodeSafetensors(tensors, metadata); // refuse bad tensors before touching the disk
  await writeFileAtomic(path, bytes);
}

/**
 * Reads a safetensors file with {@link decodeSafetensors}; errors name `path`.
 *
 * @throws OptionsError unless `path` is a non-empty string; CheckpointError: the file cannot be
 *   read (the Node error is its cause), or any
 *   refusal of {@link decodeSafetensors}.
 * @example
 * const { tensors, metadata } = await loadSafetensors('checkpoints/mlp.safetensors');
 */
export async function loadSafetensors(path: string): Promise<SafetensorsFile> {
  check('loadSafetensors', [pathArg()], [path]);
  return decodeSafetensors(await readFileChecked(path), path);
}
