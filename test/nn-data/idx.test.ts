import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DataFormatError, encodeIdx, parseIdx, readIdxFile, type IdxDtype } from '../../packages/nn/src/data';

describe('parseIdx', () => {
  it('decodes a hand-built u8 file (magic, big-endian dims, row-major data)', () => {
    const bytes = new Uint8Array([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255]);
    const t = parseIdx(bytes, 'tiny');
    expect(t.dtype).toBe('u8');
    expect(t.shape).toEqual([2, 3]);
    expect(t.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 255]);
  });

  it('reads multi-byte elements as big-endian', () => {
    // i16: 0xfffe = -2, 0x0100 = 256; f32: 0x3fc00000 = 1.5, 0xc0200000 = -2.5
    const i16 = parseIdx(new Uint8Array([0, 0, 0x0b, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x01, 0x00]));
    expect(i16.dtype).toBe('i16');
    expect(Array.from(i16.data)).toEqual([-2, 256]);
    const f32 = parseIdx(new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 2, 0x3f, 0xc0, 0, 0, 0xc0, 0x20, 0, 0]));
    expect(f32.data).toBeInstanceOf(Float32Array);
    expect(Array.from(f32.data)).toEqual([1.5, -2.5]);
  });

  it('round-trips every dtype through encodeIdx', () => {
    const cases: [IdxDtype, number[]][] = [
      ['u8', [0, 7, 255]], ['i8', [-128, 0, 127]], ['i16', [-32768, 1, 32767]],
      ['i32', [-2147483648, 5, 2147483647]], ['f32', [0.5, -3.25, 1e10]], ['f64', [Math.PI, -1e-300, 2]],
    ];
    for (const [dtype, values] of cases) {
      const bytes = encodeIdx({ dtype, shape: [3, 1], data: values });
      const t = parseIdx(bytes, dtype);
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual([3, 1]);
      expect(Array.from(t.data)).toEqual(values);
    }
  });

  it('refuses a bad magic number, naming both magic numbers when an expectation is given', () => {
    const labels = encodeIdx({ dtype: 'u8', shape: [2], data: [1, 2] });
    expect(() => parseIdx(labels, 'train-images-idx3-ubyte', { dtype: 'u8', shape: [null, 28, 28] })).toThrow(
      new DataFormatError('train-images-idx3-ubyte: bad magic number 0x00000801, expected 0x00000803'),
    );
    const notIdx = new Uint8Array([0x50, 0x4b, 3, 4, 0, 0, 0, 0]);
    expect(() => parseIdx(notIdx, 'f')).toThrow(/^f: bad magic number 0x504b0304, its first two bytes must be zero$/);
    expect(() => parseIdx(new Uint8Array([0, 0, 0x0a, 1, 0, 0, 0, 0]), 'f')).toThrow(/unknown data type code 0x0a/);
  });

  it('refuses a truncated file with expected and actual byte counts', () => {
    const ok = encodeIdx({ dtype: 'i32', shape: [2, 2], data: [1, 2, 3, 4] }); // 4 + 8 + 16 = 28 bytes
    expect(ok.length).toBe(28);
    const err = (() => { try { parseIdx(ok.subarray(0, 27), 'x.idx'); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as Error).name).toBe('DataFormatError');
    expect((err as Error).message).toBe('x.idx: truncated: expected 28 bytes (12 header + 4 i32 elements for shape [2, 2]), got 27');
    expect(() => parseIdx(ok.subarray(0, 6), 'x.idx')).toThrow('x.idx: truncated header: 6 bytes, expected 12 for 2 dimensions');
    expect(() => parseIdx(ok.subarray(0, 3), 'x.idx')).toThrow('x.idx: truncated: 3 bytes');
  });

  it('refuses trailing bytes', () => {
    const ok = encodeIdx({ dtype: 'u8', shape: [3], data: [1, 2, 3] });
    const long = new Uint8Array(ok.length + 2);
    long.set(ok);
    expect(() => parseIdx(long, 'y')).toThrow('y: trailing bytes: expected 11 bytes (8 header + 3 u8 elements for shape [3]), got 13');
  });

  it('refuses a shape other than the expected one', () => {
    const img = encodeIdx({ dtype: 'u8', shape: [1, 28, 29], data: new Uint8Array(28 * 29) });
    expect(() => parseIdx(img, 'im', { dtype: 'u8', shape: [null, 28, 28] })).toThrow('im: shape [1, 28, 29], expected [*, 28, 28]');
  });

  it('encodeIdx refuses data that does not fill the shape', () => {
    expect(() => encodeIdx({ dtype: 'u8', shape: [2, 2], data: [1, 2, 3] })).toThrow(/holds 4 elements, data has 3/);
  });
});

describe('readIdxFile', () => {
  it('reads plain and gzipped files identically', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-idx-'));
    const bytes = encodeIdx({ dtype: 'u8', shape: [2, 2], data: [9, 8, 7, 6] });
    await writeFile(join(dir, 'a'), bytes);
    await writeFile(join(dir, 'a.gz'), gzipSync(bytes));
    for (const f of ['a', 'a.gz']) {
      const t = await readIdxFile(join(dir, f));
      expect(t.shape).toEqual([2, 2]);
      expect(Array.from(t.data)).toEqual([9, 8, 7, 6]);
    }
    // A corrupt gzip stream is a DataFormatError naming the file.
    await writeFile(join(dir, 'bad.gz'), new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]));
    await expect(readIdxFile(join(dir, 'bad.gz'))).rejects.toThrow(/bad\.gz: gzip decompression failed/);
  });

  it('checks sizes while inflating: a small .gz never inflates past what its header declares', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-idx-'));
    // A 9-byte IDX (shape [1]) followed by 32 MiB of zeros: about 32 KB gzipped.
    const bomb = new Uint8Array(9 + 32 * 2 ** 20);
    bomb.set(encodeIdx({ dtype: 'u8', shape: [1], data: [7] }));
    const path = join(dir, 'bomb.gz');
    await writeFile(path, gzipSync(bomb));
    const err = await readIdxFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    const m = /^(.*): trailing bytes: the header declares 9 bytes, the gzip content is longer \(stopped after inflating (\d+)\)$/.exec((err as Error).message);
    expect(m?.[1]).toBe(path);
    expect(Number(m![2])).toBeLessThanOrEqual(64 * 1024); // one inflate chunk, not 32 MiB

    // A header inconsistent with the expectation stops the read at the header.
    const images = encodeIdx({ dtype: 'u8', shape: [2, 28, 27], data: new Uint8Array(2 * 28 * 27) });
    await writeFile(join(dir, 'images.gz'), gzipSync(images));
    await expect(readIdxFile(join(dir, 'images.gz'), { dtype: 'u8', shape: [null, 28, 28] })).rejects.toThrow(`${join(dir, 'images.gz')}: shape [2, 28, 27], expected [*, 28, 28]`);

    // A declared or actual size over maxBytes is refused before reading on.
    await expect(readIdxFile(join(dir, 'images.gz'), undefined, { maxBytes: 1000 })).rejects.toThrow(`${join(dir, 'images.gz')}: the header declares 1528 bytes, over the 1000-byte limit`);
    await writeFile(join(dir, 'images'), images);
    await expect(readIdxFile(join(dir, 'images'), undefined, { maxBytes: 1000 })).rejects.toThrow(`${join(dir, 'images')}: 1528 bytes, over the 1000-byte limit`);

    // A plain file longer than its header declares is refused before its body is read.
    await writeFile(join(dir, 'long'), bomb);
    await expect(readIdxFile(join(dir, 'long'))).rejects.toThrow(`${join(dir, 'long')}: trailing bytes: the header declares 9 bytes, the file has ${bomb.length}`);

    // A shorter stream is left to the parser, which names both sizes.
    await writeFile(join(dir, 'short.gz'), gzipSync(images.subarray(0, 100)));
    await expect(readIdxFile(join(dir, 'short.gz'))).rejects.toThrow(/short\.gz: truncated: expected 1528 bytes .*, got 100$/);
  });

  it('file-system failures are DataFormatErrors naming the file and the operation, with the Node error as cause', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-idx-'));
    const missing = await readIdxFile(join(dir, 'nope')).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(DataFormatError);
    expect((missing as Error).message).toMatch(new RegExp(`^${join(dir, 'nope')}: cannot open: ENOENT`));
    expect(((missing as Error).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    const folder = await readIdxFile(dir).catch((e: unknown) => e);
    expect(folder).toBeInstanceOf(DataFormatError);
    expect((folder as Error).message).toMatch(new RegExp(`^${dir}: cannot read: EISDIR`));
    expect(((folder as Error).cause as NodeJS.ErrnoException).code).toBe('EISDIR');
  });
});
