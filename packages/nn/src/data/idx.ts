/**
 * IDX, the format of the MNIST files (http://yann.lecun.com/exdb/mnist/):
 *
 *   bytes 0-1  0x00 0x00
 *   byte  2    type code: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
 *   byte  3    number of dimensions d
 *   4*d bytes  each dimension as a big-endian u32
 *   then       the elements, row-major, big-endian (MSB first) like the header
 */
import { DataFormatError } from './errors';
import { readDataFile } from './fs';
import { bytesArg, check, optional, opts, stringArg } from '../args';

/** Element types an IDX file may hold (its type byte). */
export type IdxDtype = 'u8' | 'i8' | 'i16' | 'i32' | 'f32' | 'f64';
/** The typed array an IDX file's elements are read into, by its dtype. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX file: element type, dimensions and the elements in host byte order. */
export interface IdxTensor {
  dtype: IdxDtype;
  shape: number[];
  data: IdxData;
}

/** What the caller expects, so a wrong file is refused with both magic numbers in the message. */
export interface IdxExpectation {
  dtype?: IdxDtype;
  /** Expected dimensions; `null` accepts any size in that position (e.g. `[null, 28, 28]`). */
  shape?: (number | null)[];
}

interface DtypeInfo {
  code: number;
  size: number;
  make: (n: number) => IdxData;
  get: (v: DataView, at: number) => number;
  set: (v: DataView, at: number, x: number) => void;
}

// One row per type code; `false` in the accessors asks DataView for big-endian.
const DTYPES: Record<IdxDtype, DtypeInfo> = {
  u8: { code: 0x08, size: 1, make: (n) => new Uint8Array(n), get: (v, i) => v.getUint8(i), set: (v, i, x) => v.setUint8(i, x) },
  i8: { code: 0x09, size: 1, make: (n) => new Int8Array(n), get: (v, i) => v.getInt8(i), set: (v, i, x) => v.setInt8(i, x) },
  i16: { code: 0x0b, size: 2, make: (n) => new Int16Array(n), get: (v, i) => v.getInt16(i, false), set: (v, i, x) => v.setInt16(i, x, false) },
  i32: { code: 0x0c, size: 4, make: (n) => new Int32Array(n), get: (v, i) => v.getInt32(i, false), set: (v, i, x) => v.setInt32(i, x, false) },
  f32: { code: 0x0d, size: 4, make: (n) => new Float32Array(n), get: (v, i) => v.getFloat32(i, false), set: (v, i, x) => v.setFloat32(i, x, false) },
  f64: { code: 0x0e, size: 8, make: (n) => new Float64Array(n), get: (v, i) => v.getFloat64(i, false), set: (v, i, x) => v.setFloat64(i, x, false) },
};

const hex32 = (x: number) => '0x' + (x >>> 0).toString(16).padStart(8, '0');
const fmtShape = (s: (number | null)[]) => `[${s.map((d) => (d === null ? '*' : d)).join(', ')}]`;

function dtypeOfCode(code: number): IdxDtype | undefined {
  return (Object.keys(DTYPES) as IdxDtype[]).find((k) => DTYPES[k].code === code);
}

/** What an IDX header says: element type, dimensions, and the sizes they imply. */
export interface IdxHeader {
  dtype: IdxDtype;
  shape: number[];
  /** Bytes of the header itself: 4 + 4 per dimension. */
  headerBytes: number;
  /** Elements the shape holds. */
  count: number;
  /** The whole file's size: header plus elements. */
  totalBytes: number;
}

/**
 * Decodes the header at the start of `bytes` (which may hold only the first few bytes of a
 * file), checking it against `expect`. Returns `{ need }`, the bytes a complete header
 * takes, while `bytes` is shorter than that; the readers use it to know a file's declared
 * size before reading (or inflating) the rest.
 *
 * @throws DataFormatError naming `name`: bad magic number, unknown type code, a shape other
 *   than the expected one, or a size too large to address.
 * @example
 * readIdxHeader(new Uint8Array([0, 0, 0x08, 1, 0, 0, 0, 3])); // { dtype: 'u8', shape: [3], totalBytes: 11, ... }
 */
export function readIdxHeader(bytes: Uint8Array, name = 'idx', expect: IdxExpectation = {}): IdxHeader | { need: number } {
  check('readIdxHeader', [bytesArg(), optional(stringArg('name')), opts('expect')], [bytes, name, expect]);
  if (bytes.length < 4) return { need: 4 };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const ndims = bytes[3]!;
  const dtype = dtypeOfCode(bytes[2]!);
  if (expect.dtype !== undefined || expect.shape !== undefined) {
    // With an expectation we can name the magic number we wanted, which is the quickest
    // way to see that e.g. a labels file (…0801) was passed where images (…0803) belong.
    const code = expect.dtype !== undefined ? DTYPES[expect.dtype].code : bytes[2]!;
    const rank = expect.shape !== undefined ? expect.shape.length : ndims;
    const want = (code << 8) | rank;
    if (magic !== want) throw new DataFormatError(`${name}: bad magic number ${hex32(magic)}, expected ${hex32(want)}`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataFormatError(`${name}: bad magic number ${hex32(magic)}, its first two bytes must be zero`);
  }
  if (dtype === undefined) {
    throw new DataFormatError(
      `${name}: unknown data type code 0x${bytes[2]!.toString(16).padStart(2, '0')} in magic number ${hex32(magic)}`,
    );
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) return { need: headerBytes };
  const shape: number[] = [];
  for (let d = 0; d < ndims; d++) shape.push(view.getUint32(4 + 4 * d, false));
  if (expect.shape !== undefined && expect.shape.some((want, d) => want !== null && want !== shape[d])) {
    throw new DataFormatError(`${name}: shape ${fmtShape(shape)}, expected ${fmtShape(expect.shape)}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const totalBytes = headerBytes + count * DTYPES[dtype].size;
  if (!Number.isSafeInteger(totalBytes)) {
    throw new DataFormatError(`${name}: shape ${fmtShape(shape)} is too large to address`);
  }
  return { dtype, shape, headerBytes, count, totalBytes };
}

/**
 * Decodes an IDX file held in memory. `name` (the file name) starts every error message.
 * Refuses a bad magic number, an unknown type code, a truncated file and trailing bytes.
 *
 * @throws DataFormatError for a bad magic number, a truncated file, or a shape other than the expected one.
 * @example
 * const labels = parseIdx(encodeIdx({ dtype: 'u8', shape: [3], data: new Uint8Array([7, 2, 1]) }));
 * labels.shape; // [3]
 */
export function parseIdx(bytes: Uint8Array, name = 'idx', expect: IdxExpectation = {}): IdxTensor {
  check('parseIdx', [bytesArg(), optional(stringArg('name')), opts('expect')], [bytes, name, expect]);
  const header = readIdxHeader(bytes, name, expect);
  if ('need' in header) {
    throw new DataFormatError(
      header.need === 4
        ? `${name}: truncated: ${bytes.length} bytes, an IDX header needs at least 4`
        : `${name}: truncated header: ${bytes.length} bytes, expected ${header.need} for ${bytes[3]} dimensions`,
    );
  }
  const { dtype, shape, headerBytes, count, totalBytes: expected } = header;
  const info = DTYPES[dtype];
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'trailing bytes';
    throw new DataFormatError(
      `${name}: ${what}: expected ${expected} bytes (${headerBytes} header + ${count} ${dtype} elements ` +
        `for shape ${fmtShape(shape)}), got ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let data: IdxData;
  if (info.size === 1) {
    // Single bytes have no byte order: copy them in one go, into a buffer of their own so the
    // result does not keep a larger file buffer alive. NOTE: not bytes.slice(): on a Node
    // Buffer (what gunzip returns) that is a view into a shared pool.
    const copy = new Uint8Array(count);
    copy.set(bytes.subarray(headerBytes, expected));
    data = dtype === 'u8' ? copy : new Int8Array(copy.buffer);
  } else {
    data = info.make(count);
    for (let i = 0, at = headerBytes; i < count; i++, at += info.size) data[i] = info.get(view, at);
  }
  return { dtype, shape, data };
}

/**
 * Encodes a tensor as IDX bytes (big-endian), the inverse of {@link parseIdx}.
 * Used to write small fixture files and to export data for other tools.
 *
 * @example
 * const bytes = encodeIdx({ dtype: 'u8', shape: [2, 2], data: new Uint8Array([0, 64, 128, 255]) });
 * bytes.length; // 4 + 2*4 + 4 = 16
 */
export function encodeIdx(tensor: { dtype: IdxDtype; shape: number[]; data: ArrayLike<number> }): Uint8Array {
  check('encodeIdx', [opts('tensor')], [tensor]);
  const { dtype, shape, data } = tensor;
  const info = DTYPES[dtype];
  if (info === undefined) throw new DataFormatError(`encodeIdx: unknown dtype '${String(dtype)}'`);
  if (shape.length > 255 || shape.some((d) => !Number.isInteger(d) || d < 0 || d > 0xffffffff)) {
    throw new DataFormatError(`encodeIdx: shape ${fmtShape(shape)} cannot be written as IDX`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new DataFormatError(`encodeIdx: shape ${fmtShape(shape)} holds ${count} elements, data has ${data.length}`);
  }
  const headerBytes = 4 + 4 * shape.length;
  const out = new Uint8Array(headerBytes + count * info.size);
  const view = new DataView(out.buffer);
  out[2] = info.code;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0, at = headerBytes; i < count; i++, at += info.size) info.set(view, at, data[i]!);
  return out;
}

/** Refuse IDX files over this many bytes unless the caller raises the limit (2 GiB). */
export const IDX_MAX_BYTES = 2 ** 31;

/** Options of `readIdxFile`: a size limit. */
export interface ReadIdxOptions {
  /** Refuse a file (after gunzip) over this many bytes; default {@link IDX_MAX_BYTES}. */
  maxBytes?: number;
}

/**
 * Reads and decodes an IDX file; a gzipped file (as distributed, `*.gz`) is gunzipped
 * first. The two cannot be confused: gzip starts with 0x1f, IDX with 0x00. The header is
 * checked as soon as its bytes arrive, and a gzip stream is refused the moment it passes
 * the size the header declares, so a small crafted `.gz` never inflates to more than that.
 *
 * @throws DataFormatError naming `path`: missing or unreadable file, corrupt gzip, bad
 *   header, a shape other than `expect.shape`, truncated or trailing data, over `maxBytes`.
 * @example
 * const { shape } = await readIdxFile('data/t10k-images-idx3-ubyte'); // [10000, 28, 28]
 */
export async function readIdxFile(path: string, expect?: IdxExpectation, options: ReadIdxOptions = {}): Promise<IdxTensor> {
  const bytes = await readDataFile(path, {
    maxBytes: options.maxBytes ?? IDX_MAX_BYTES,
    declaredSize: (head) => {
      const header = readIdxHeader(head, path, expect);
      return 'need' in header ? undefined : header.totalBytes;
    },
  });
  return parseIdx(bytes, path, expect);
}
