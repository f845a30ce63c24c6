// The GPU check kit's own logic (bench/gpu-kit/main.ts): its flags, its plan, and the peer's
// rates taken from the Kiln record of the same workload. Building the kit is
// `bench/gpu-kit/build.sh --check` (slow: it packs a Node binary), not a jest test.
import { KIT_DEFAULTS, kitPlan, parseKitArgs, ratesFromKiln } from '../../bench/gpu-kit/main';
import type { BenchRecord } from '../../bench/report';
import { planWorkloads } from '../../bench/workloads';

const rec = (engine: string, bench: string, params: Record<string, number>, medianMs: number, extra: Partial<BenchRecord> = {}): BenchRecord => ({
  engine, backend: engine === 'torch' ? 'cuda' : 'webgpu', bench, params, medianMs, minMs: medianMs, maxMs: medianMs, meanMs: medianMs,
  spread: 0, reps: 1, warmup: 0, samplesMs: [medianMs], ...extra,
});

describe('GPU kit', () => {
  test('defaults reach matmul 4096^3 on webgpu, and --quick shrinks what was not given', () => {
    expect(parseKitArgs([])).toEqual(KIT_DEFAULTS);
    expect(Math.max(...KIT_DEFAULTS.sizes)).toBe(4096);
    const quick = parseKitArgs(['--quick', '--reps', '3']);
    expect(quick).toMatchObject({ quick: true, sizes: [32], cpuSizes: [32], reps: 3, warmup: 1 });
    expect(parseKitArgs(['--no-torch', '--torch-device', 'cpu', '--sizes', '64,128'])).toMatchObject({ torch: false, torchDevice: 'cpu', sizes: [64, 128] });
  });

  test('bad flags are errors that carry the usage line', () => {
    expect(() => parseKitArgs(['--sizes', '0'])).toThrow(/--sizes takes positive integers.*\nusage: \.\/run\.sh/s);
    expect(() => parseKitArgs(['--torch-device', 'rocm'])).toThrow(/cuda or cpu/);
    expect(() => parseKitArgs(['--warmup', '-1'])).toThrow(/non-negative/);
    expect(() => parseKitArgs(['--tfjs'])).toThrow(/unknown argument '--tfjs'/);
  });

  test('the plan runs both suites; quick runs one tiny shape of each workload', () => {
    const full = planWorkloads(kitPlan(KIT_DEFAULTS, KIT_DEFAULTS.sizes));
    expect(full.some((w) => w.bench === 'matmul' && w.params.m === 4096 && w.params.k === 4096)).toBe(true);
    expect(new Set(full.map((w) => w.suite))).toEqual(new Set(['kernels', 'models']));
    const quick = planWorkloads(kitPlan(parseKitArgs(['--quick']), [32]));
    expect(quick.filter((w) => w.bench === 'matmul').map((w) => w.params)).toEqual([{ m: 32, k: 32, n: 32 }]);
    expect(quick.find((w) => w.bench === 'mlpTrainStep')!.params).toEqual({ batch: 4 });
  });

  test('the peer gets the Kiln record\'s FLOPs and bytes over its own median', () => {
    const p = { m: 4096, k: 4096, n: 4096 };
    const kiln = [rec('kiln', 'matmul', p, 20, { gflops: 6871.9, gbps: 10 }), rec('kiln', 'softmax', { rows: 8, cols: 8 }, 1, { gbps: 4 })];
    const peer = [rec('torch', 'matmul', p, 5), rec('torch', 'softmax', { rows: 8, cols: 8 }, 2), rec('torch', 'lstmStep', { batch: 1 }, 3)];
    const out = ratesFromKiln(peer, kiln);
    expect(out[0]!.gflops).toBeCloseTo(6871.9 * 4);
    expect(out[0]!.gbps).toBeCloseTo(40);
    expect(out[1]).toMatchObject({ gbps: 2 });
    expect(out[1]!.gflops).toBeUndefined();
    expect(out[2]).toEqual(peer[2]); // no Kiln record of that workload: no rate
  });
});
