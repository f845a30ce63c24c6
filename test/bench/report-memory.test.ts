// The bench report's memory column (issue 16, item 5): Kiln records carry their program's
// device memory, shown as peak MiB with the intermediates planned / unshared.
import type { MemoryReport } from '@kiln/core';
import { type BenchRecord, formatMemory, markdownTable } from '../../bench/report';

const MEMORY: MemoryReport = { paramBytes: 2 ** 20, inputBytes: 2 ** 19, intermediateBytes: 3 * 2 ** 20, plannedBytes: 2 ** 20, peakBytes: 2.5 * 2 ** 20, savedBytes: 2 * 2 ** 20 };

const rec = (engine: string, backend: string, medianMs: number, memory?: MemoryReport): BenchRecord => ({
  engine, backend, bench: 'mlpTrainStep', params: { batch: 128 }, medianMs, minMs: medianMs, maxMs: medianMs, meanMs: medianMs,
  spread: 0, reps: 1, warmup: 0, samplesMs: [medianMs], ...(memory ? { memory } : {}),
});

describe('bench report: memory column', () => {
  test('peak MiB, then intermediates as the plan holds them / one buffer each', () => {
    expect(formatMemory(MEMORY)).toBe('2.50 (1.00 / 3.00)');
  });

  test('a last column when a Kiln record has memory, none otherwise', () => {
    const lines = markdownTable([rec('tfjs', 'wasm', 8), rec('kiln', 'webgpu', 2, MEMORY)]).split('\n');
    expect(lines[0]).toBe('| bench | params | tfjs-wasm | kiln-webgpu | kiln-webgpu/tfjs-wasm | kiln MiB: peak (intermediates planned / unshared) |');
    expect(lines[2]).toBe('| mlpTrainStep | batch=128 | 8.00 ms | 2.00 ms | 4.00x | 2.50 (1.00 / 3.00) |');
    expect(markdownTable([rec('tfjs', 'wasm', 8)]).split('\n')[0]).toBe('| bench | params | tfjs-wasm |');
  });
});
