import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CIFAR10_RECORD_BYTES, DataFormatError, parseCifar10, readCifar10File } from '../../packages/nn/src/data';

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
