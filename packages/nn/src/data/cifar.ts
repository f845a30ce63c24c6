/**
 * CIFAR-10 "binary version" (https://www.cs.toronto.edu/~kriz/cifar.html): each
 * `data_batch_*.bin` / `test_batch.bin` is a plain run of 3073-byte records, one label
 * byte (0..9) then 3072 pixel bytes: the 1024 red, then 1024 green, then 1024 blue values
 * of a 32x32 image, i.e. CHW, which is the NCHW layout conv2d takes. Nothing is downloaded:
 * {@link loadCifar10} reads the files a user fetched from {@link CIFAR10_URL}.
 */
import { nodeBuiltin } from '@kiln/core';
import { DataFormatError } from './errors';
import { allInOrder, readDataFile } from './fs';
import { bytesArg, check, optional, opts, stringArg } from '../args';

/** Pixel bytes of one image: 3 channels of 32x32. */
export const CIFAR10_IMAGE_BYTES = 3 * 32 * 32;
/** Bytes of one record: the label byte, then the pixels. */
export const CIFAR10_RECORD_BYTES = 1 + CIFAR10_IMAGE_BYTES;
/** Class names by label. */
export const CIFAR10_CLASSES = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
] as const;

/** Decoded records: images and labels, in file order. */
export interface Cifar10Batch {
  /** count*3*32*32 raw pixel bytes, NCHW. */
  images: Uint8Array;
  /** count labels, each 0..9 (index into {@link CIFAR10_CLASSES}). */
  labels: Uint8Array;
  count: number;
}

/**
 * Decodes CIFAR-10 binary records. Refuses an empty input, a size that is not a whole
 * number of records, and a label above 9 (naming the record), which is what a CIFAR-100
 * file (2 label bytes per record) or a wrong file usually produces.
 *
 * @throws DataFormatError for a file that is not whole CIFAR-10 records or has a label outside 0..9.
 * @example
 * const { images, labels, count } = parseCifar10(bytes, 'data_batch_1.bin');
 */
export function parseCifar10(bytes: Uint8Array, name = 'cifar10'): Cifar10Batch {
  check('parseCifar10', [bytesArg(), optional(stringArg('name'))], [bytes, name]);
  if (bytes.length === 0) throw new DataFormatError(`${name}: empty, expected ${CIFAR10_RECORD_BYTES}-byte records`);
  if (bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    const whole = Math.floor(bytes.length / CIFAR10_RECORD_BYTES);
    throw new DataFormatError(
      `${name}: size ${bytes.length} bytes is not a multiple of the ${CIFAR10_RECORD_BYTES}-byte record ` +
        `(1 label + ${CIFAR10_IMAGE_BYTES} pixels): ${whole} whole records and ` +
        `${bytes.length - whole * CIFAR10_RECORD_BYTES} bytes left over`,
    );
  }
  const count = bytes.length / CIFAR10_RECORD_BYTES;
  const images = new Uint8Array(count * CIFAR10_IMAGE_BYTES);
  const labels = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    const at = r * CIFAR10_RECORD_BYTES;
    const label = bytes[at]!;
    if (label > 9) {
      throw new DataFormatError(`${name}: record ${r} (byte offset ${at}): label ${label} is out of range 0..9`);
    }
    labels[r] = label;
    images.set(bytes.subarray(at + 1, at + CIFAR10_RECORD_BYTES), r * CIFAR10_IMAGE_BYTES);
  }
  return { images, labels, count };
}

/** Options of {@link readCifar10File}. */
export interface ReadCifar10Options {
  /** Refuse a file (after gunzip) of more records than this; default 60,000, the whole CIFAR-10 set. */
  maxRecords?: number;
}

/**
 * Reads one CIFAR-10 `.bin` file (gunzipping it if needed) with {@link parseCifar10}. The
 * size is checked while reading: a gzip stream is refused as soon as it inflates past
 * `maxRecords` records.
 *
 * @throws DataFormatError naming `path`: missing or unreadable file, corrupt gzip, too
 *   large, or any refusal of {@link parseCifar10}.
 * @example
 * const { images, labels, count } = await readCifar10File('cifar-10-batches-bin/test_batch.bin'); // count 10000
 */
export async function readCifar10File(path: string, options: ReadCifar10Options = {}): Promise<Cifar10Batch> {
  const maxRecords = options.maxRecords ?? 60_000;
  if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) {
    throw new RangeError(`readCifar10File: maxRecords must be a positive integer, got ${String(maxRecords)}`);
  }
  return parseCifar10(await readDataFile(path, { maxBytes: maxRecords * CIFAR10_RECORD_BYTES }), path);
}

/** The "CIFAR-10 binary version" archive; it unpacks to `cifar-10-batches-bin/`. */
export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
/** The files {@link loadCifar10} reads: the five training batches, then the test batch. */
export const CIFAR10_FILES = {
  train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  test: ['test_batch.bin'],
} as const;
const CIFAR10_FOLDER = 'cifar-10-batches-bin';

/**
 * Loads the training set (`data_batch_1..5.bin`, 50,000 images, in file order) and the test
 * set (`test_batch.bin`, 10,000) from `dir`: the extracted `cifar-10-batches-bin` folder, or
 * the folder that holds it. Files may be gzipped. Any record count per file is accepted (a
 * small file in the same format reads the same).
 *
 * @throws DataFormatError naming the folder when it does not exist or holds none of the files,
 *   else every file missing or malformed; with where to download them.
 * @example
 * const { train, test } = await loadCifar10({ dir: 'cifar-10-batches-bin' });
 * train.count; // 50000
 */
export async function loadCifar10(options: { dir: string }): Promise<{ train: Cifar10Batch; test: Cifar10Batch }> {
  check('loadCifar10', [opts()], [options]);
  const { join } = nodeBuiltin<typeof import('node:path')>('node:path', 'loadCifar10');
  const { existsSync } = nodeBuiltin<typeof import('node:fs')>('node:fs', 'loadCifar10');
  const nested = join(options.dir, CIFAR10_FOLDER);
  const dir = !existsSync(join(options.dir, CIFAR10_FILES.test[0])) && existsSync(nested) ? nested : options.dir;
  const names = [...CIFAR10_FILES.train, ...CIFAR10_FILES.test];
  const where = `(CIFAR-10 needs ${names.join(', ')}: download ${CIFAR10_URL} and pass the '${CIFAR10_FOLDER}' folder it unpacks to)`;
  // A wrong folder is one message, not one "cannot open" per file.
  if (!existsSync(dir)) throw new DataFormatError(`${dir}: no such folder ${where}`);
  if (!names.some((n) => existsSync(join(dir, n)))) throw new DataFormatError(`${dir}: none of the CIFAR-10 files is in this folder ${where}`);
  let batches: Cifar10Batch[];
  try {
    batches = await allInOrder(names.map((n) => readCifar10File(join(dir, n))));
  } catch (e) {
    if (!(e instanceof DataFormatError)) throw e;
    throw new DataFormatError(`${e.message} ${where}`, { cause: e });
  }
  return { train: concatBatches(batches.slice(0, -1)), test: batches.at(-1)! };
}

function concatBatches(parts: Cifar10Batch[]): Cifar10Batch {
  const count = parts.reduce((n, p) => n + p.count, 0);
  const images = new Uint8Array(count * CIFAR10_IMAGE_BYTES);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * CIFAR10_IMAGE_BYTES);
    labels.set(p.labels, at);
    at += p.count;
  }
  return { images, labels, count };
}
