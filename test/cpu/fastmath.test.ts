// fastExp, the e^x of the generated kernels: within 1e-8 of Math.exp, and Math.exp's special values.
import { fastExp } from '@kiln/cpu';

describe('fastExp', () => {
  test('within 1e-8 relative of Math.exp over the f32 range, the reduction boundaries included', () => {
    const xs: number[] = [];
    for (let i = 0; i <= 20000; i++) xs.push(-90 + (180 * i) / 20000);
    for (let n = -125; n <= 126; n++) for (const d of [-1e-7, 0, 1e-7]) xs.push((n + 0.5) * Math.LN2 + d);
    let worst = 0;
    for (const x of xs) worst = Math.max(worst, Math.abs(fastExp(x) - Math.exp(x)) / Math.exp(x));
    expect(worst).toBeLessThan(1e-8);
  });

  test('f32 results equal Math.exp rounded to f32 but for at most one ulp', () => {
    let differ = 0;
    for (let i = 0; i < 100000; i++) {
      const x = Math.fround(-20 + (40 * i) / 100000);
      const got = Math.fround(fastExp(x)), want = Math.fround(Math.exp(x));
      if (got !== want) {
        differ++;
        expect(Math.abs(got - want)).toBeLessThanOrEqual(want * 2 ** -23);
      }
    }
    expect(differ).toBeLessThan(2000); // a few in a thousand
  });

  test.each([NaN, Infinity, -Infinity, 0, -0, 88, -87, 100, -110, 1e-30])('special value %p is Math.exp\'s', (x) => {
    if (x > -87 && x < 88) expect(Math.abs(fastExp(x) - Math.exp(x))).toBeLessThanOrEqual(1e-8 * Math.exp(x));
    else expect(fastExp(x)).toBe(Math.exp(x));
  });
});
