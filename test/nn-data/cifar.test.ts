import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CIFAR10_RECORD_BYTES, CIFAR10_URL, DataFormatError, loadCifar10, parseCifar10, readCifar10File } from '../../packages/nn/src/data';
import { syntheticRecords, writeSyntheticCifar } from './cifar-fixture';

/** A record whose pixel p has value (seed + p) % 256, label first. */
function record(label: number, seed: number): Uint8Array {
  const r = new Uint8Array(CIFAR10_RECORD_BYTES);
  r[0] = label;
  for (let p = 0; p < 3072; p++) r[1 + p] = (seed + p) % 256;
  return r;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

describe('parseCifar10', () => {
  it('splits records into labels and CHW pixels', () => {
    const b = parseCifar10(concat(record(3, 0), record(9, 100)), 'data_batch_1.bin');
    expect(b.count).toBe(2);
    expect(Array.from(b.labels)).toEqual([3, 9]);
    expect(b.images.length).toBe(2 * 3 * 32 * 32);
    // image 0: red channel pixel (0,0) is byte 1 of the record, green (0,0) is byte 1025
    expect(b.images[0]).toBe(0);
    expect(b.images[1024]).toBe(1024 % 256);
    expect(b.images[3071]).toBe(3071 % 256);
    // image 1 starts right after image 0 with its own pixels
    expect(b.images[3072]).toBe(100);
    expect(b.images[3072 + 5]).toBe(105);
  });

  it('refuses a size that is not a whole number of records', () => {
    const bytes = concat(record(1, 0), record(2, 0), new Uint8Array(5));
    expect(() => parseCifar10(bytes, 'b.bin')).toThrow(new DataFormatError(
      'b.bin: size 6151 bytes is not a multiple of the 3073-byte record (1 label + 3072 pixels): 2 whole records and 5 bytes left over',
    ));
    expect(() => parseCifar10(new Uint8Array(0), 'e.bin')).toThrow(/e\.bin: empty/);
  });

  it('refuses a label above 9, naming the record', () => {
    const bytes = concat(record(0, 0), record(1, 0), record(12, 0));
    expect(() => parseCifar10(bytes, 'c.bin')).toThrow('c.bin: record 2 (byte offset 6146): label 12 is out of range 0..9');
  });
});

describe('readCifar10File', () => {
  it('reads plain and gzipped files; refuses a gzip stream as soon as it passes maxRecords', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-cifar-'));
    const bytes = concat(record(3, 0), record(9, 100), record(1, 7));
    await writeFile(join(dir, 'b.bin'), bytes);
    await writeFile(join(dir, 'b.bin.gz'), gzipSync(bytes));
    for (const f of ['b.bin', 'b.bin.gz']) expect(Array.from((await readCifar10File(join(dir, f))).labels)).toEqual([3, 9, 1]);
    await expect(readCifar10File(join(dir, 'b.bin.gz'), { maxRecords: 2 })).rejects.toThrow(
      new RegExp(`^${join(dir, 'b.bin.gz')}: the gzip content passes the 6146-byte limit \\(stopped after inflating \\d+\\)$`),
    );
    await expect(readCifar10File(join(dir, 'b.bin'), { maxRecords: 2 })).rejects.toThrow(`${join(dir, 'b.bin')}: 9219 bytes, over the 6146-byte limit`);
    await expect(readCifar10File(join(dir, 'none.bin'))).rejects.toThrow(DataFormatError);
    await expect(readCifar10File(join(dir, 'b.bin'), { maxRecords: 0 })).rejects.toThrow(RangeError);
  });
});

describe('loadCifar10', () => {
  it('reads the five training batches in order and the test batch, from the folder or the one above it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kiln-cifar-'));
    await writeSyntheticCifar(join(root, 'cifar-10-batches-bin'), { perTrainFile: 3, test: 4, seed: 5 });
    for (const dir of [root, join(root, 'cifar-10-batches-bin')]) {
      const { train, test } = await loadCifar10({ dir });
      expect(train.count).toBe(15);
      expect(Array.from(train.labels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4]);
      // batch 2's first image follows batch 1's three
      expect(Array.from(train.images.subarray(3 * 3072, 3 * 3072 + 8))).toEqual(Array.from(syntheticRecords(1, 6, 3).subarray(1, 9)));
      expect(test.count).toBe(4);
    }
  });

  it('names every missing file and where to download CIFAR-10', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-cifar-'));
    await writeFile(join(dir, 'data_batch_1.bin'), record(1, 0));
    const e = (await loadCifar10({ dir }).then(() => undefined, (x: unknown) => x)) as Error;
    expect(e).toBeInstanceOf(DataFormatError);
    for (const name of ['data_batch_2.bin', 'data_batch_5.bin', 'test_batch.bin']) expect(e.message).toContain(join(dir, name));
    expect(e.message).not.toContain('data_batch_1.bin: ');
    expect(e.message).toContain(CIFAR10_URL);
  });
});
