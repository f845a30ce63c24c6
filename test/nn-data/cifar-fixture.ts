/**
 * Synthetic CIFAR-10 files in the real binary format, for tests: each class has its own mean
 * colour (channel values 0, 127 or 254 from the label's base-3 digits) plus seeded noise, so a
 * small CNN can learn it in a few steps whatever the crops and flips.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CIFAR10_FILES, CIFAR10_IMAGE_BYTES, CIFAR10_RECORD_BYTES, mulberry32 } from '../../packages/nn/src/data';

/** `count` records of labels `(start + i) % 10`. */
export function syntheticRecords(count: number, seed: number, start = 0): Uint8Array {
  const next = mulberry32(seed);
  const out = new Uint8Array(count * CIFAR10_RECORD_BYTES);
  for (let r = 0; r < count; r++) {
    const label = (start + r) % 10;
    const at = r * CIFAR10_RECORD_BYTES;
    out[at] = label;
    const colour = [Math.floor(label / 9) % 3, Math.floor(label / 3) % 3, label % 3].map((d) => 127 * d);
    for (let p = 0; p < CIFAR10_IMAGE_BYTES; p++) {
      const noise = (next() % 41) - 20; // -20..20
      out[at + 1 + p] = Math.min(255, Math.max(0, colour[p >> 10]! + noise));
    }
  }
  return out;
}

/** Writes the six CIFAR-10 files into `dir` (made if needed): `perTrainFile` records in each training batch, `test` in test_batch.bin. */
export async function writeSyntheticCifar(dir: string, options: { perTrainFile: number; test: number; seed: number }): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [i, name] of CIFAR10_FILES.train.entries()) {
    await writeFile(join(dir, name), syntheticRecords(options.perTrainFile, options.seed + i, i * options.perTrainFile));
  }
  await writeFile(join(dir, CIFAR10_FILES.test[0]), syntheticRecords(options.test, options.seed + 100));
}
