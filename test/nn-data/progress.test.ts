import { ProgressBar, formatDuration, formatMetric, type ProgressStream } from '../../packages/nn/src/progress';

function fakeStream(isTTY: boolean, columns?: number) {
  const writes: string[] = [];
  const stream: ProgressStream = { write: (s: string) => writes.push(s), isTTY, columns };
  return { stream, writes };
}

function clock() {
  const c = { t: 0, now: () => c.t };
  return c;
}

describe('ProgressBar', () => {
  it('renders bar, counts, rate, metrics and ETA', () => {
    const c = clock();
    const { stream } = fakeStream(true);
    const bar = new ProgressBar({ total: 60000, label: 'epoch 1/5', stream, width: 10, env: {}, now: c.now });
    c.t = 2000;
    bar.update(12800, { loss: 0.23451, acc: 0.9 });
    // 12800/60000 = 0.213 of 10 cells -> 2 cells: "=>"; 6400 samples/s; 47200 left -> 7.4 s
    expect(bar.render()).toBe('epoch 1/5 [=>        ] 12800/60000 6400 samples/s loss 0.2345 acc 0.9000 ETA 7s');
    bar.update(60000, { loss: 0.1 });
    expect(bar.render()).toBe('epoch 1/5 [==========] 60000/60000 30000 samples/s loss 0.1000');
  });

  it('redraws in place on a TTY at most every intervalMs, then ends the line', () => {
    const c = clock();
    const { stream, writes } = fakeStream(true);
    const bar = new ProgressBar({ total: 100, stream, width: 4, env: {}, now: c.now });
    c.t = 10; bar.update(10);
    c.t = 50; bar.update(20); // throttled
    c.t = 90; bar.update(30); // throttled
    c.t = 120; bar.update(40);
    expect(writes.length).toBe(2);
    expect(writes[0]).toMatch(/^\r\[> {3}\] 10\/100 .*\x1b\[K$/);
    expect(writes[1]).toMatch(/^\r\[> {3}\] 40\/100 333 samples\/s ETA 0s\x1b\[K$/); // 0.4 of 4 cells
    c.t = 130; bar.update(100); // throttled, but finish() draws the final state
    bar.finish();
    expect(writes.length).toBe(4);
    expect(writes[2]).toMatch(/^\r\[====\] 100\/100 /);
    expect(writes[3]).toBe('\n');
    bar.finish();
    bar.update(5);
    expect(writes.length).toBe(4);
  });

  it('cuts lines to the terminal width so \\r can overwrite them', () => {
    const { stream, writes } = fakeStream(true, 20);
    const bar = new ProgressBar({ total: 10, label: 'a long label here', stream, env: {}, now: () => 0 });
    bar.update(1);
    expect(writes[0]).toBe('\ra long label here [\x1b[K');
  });

  it('prints nothing when the stream is not a TTY, or when CI is set', () => {
    for (const [isTTY, env] of [[false, {}], [true, { CI: 'true' }], [true, { CI: '1' }]] as const) {
      const { stream, writes } = fakeStream(isTTY);
      const bar = new ProgressBar({ total: 10, stream, env, now: () => 0 });
      expect(bar.enabled).toBe(false);
      bar.update(5, { loss: 1 });
      bar.update(10, { loss: 1 });
      bar.finish();
      expect(writes).toEqual([]);
    }
    const { stream } = fakeStream(true);
    expect(new ProgressBar({ total: 1, stream, env: { CI: 'false' } }).enabled).toBe(true);
    expect(new ProgressBar({ total: 1, stream, env: { CI: '' } }).enabled).toBe(true);
  });

  it('formats metrics and durations', () => {
    expect(formatMetric(0.23456)).toBe('0.2346');
    expect(formatMetric(3)).toBe('3');
    expect(formatMetric(1.5e-5)).toBe('1.500e-5');
    expect(formatDuration(9.4)).toBe('9s');
    expect(formatDuration(125)).toBe('2m05s');
    expect(formatDuration(3780)).toBe('1h03m');
    expect(formatDuration(Infinity)).toBe('?');
    expect(() => new ProgressBar({ total: 0 })).toThrow(RangeError);
  });
});
