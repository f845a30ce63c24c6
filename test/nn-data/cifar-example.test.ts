/**
 * examples/cifar end to end on the cpu backend: synthetic files in the CIFAR-10 binary format
 * (each class its own colour, see cifar-fixture.ts), a narrow network, three short epochs.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../examples/cifar/main';
import { writeSyntheticCifar } from './cifar-fixture';

describe('examples/cifar', () => {
  it('loads the binary files, trains with augmentation and evaluates', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-cifar-example-'));
    await writeSyntheticCifar(dir, { perTrainFile: 40, test: 50, seed: 1 });
    const lines: string[] = [];
    const { epochs, test } = await main(
      ['--', '--data', dir, '--backend', 'cpu', '--epochs', '3', '--width', '4', '--batch-size', '20', '--lr', '0.02', '--seed', '3'],
      (line) => lines.push(line),
    );
    const text = lines.join('\n');
    expect(text).toContain('training on 180 images (random crop, padding 4, and horizontal flip), validating on 20, batch 20');
    expect(text).toMatch(/^conv2d_1 \(conv2d\) +\[batch, 4, 32, 32\] +108$/m);
    expect(text).toMatch(/^epoch 3\/3 /m);
    expect(epochs).toHaveLength(3);
    expect(epochs[2]!['loss']!).toBeLessThan(epochs[0]!['loss']!);
    // 10 classes: chance is 10%; each class's colour is learnable through crops and flips
    expect(test['accuracy']!).toBeGreaterThan(0.4);
    expect(text).toContain(`test accuracy: ${(test['accuracy']! * 100).toFixed(2)}%`);
  });
});
