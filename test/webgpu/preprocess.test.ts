// The WGSL preprocessor, and the generated shader table being in step with shaders/*.wgsl.
import { preprocess } from '@kiln/webgpu';
import { evalExpr } from '../../packages/webgpu/src/preprocess';
import { SHADERS } from '../../packages/webgpu/src/shaders.gen';
import { generateShaders, GEN_FILE } from '../../packages/webgpu/scripts/gen-shaders';
import { readFileSync } from 'node:fs';

describe('WGSL preprocessor', () => {
  test('defines, arithmetic and string substitution', () => {
    expect(preprocess('let a = {{N * 4 + 1}}u; {{BODY}}', { N: 3, BODY: 'x = 1;' })).toBe('let a = 13u; x = 1;');
    expect(evalExpr('(A + 1) % 3 == 0 && !B', { A: 5, B: false })).toBe(true);
    expect(evalExpr('7 / 2', {})).toBe(3);
  });

  test('#if / #else / #endif, nested', () => {
    const src = ['#if X', 'a', '#if Y', 'b', '#else', 'c', '#endif', '#else', 'd', '#endif'].join('\n');
    expect(preprocess(src, { X: 1, Y: 0 })).toBe('a\nc');
    expect(preprocess(src, { X: 0, Y: 1 })).toBe('d');
  });

  test('#for unrolls with the loop variable in scope', () => {
    const src = ['#for i in 0..N', '#for j in 0..2', 'c{{i}}_{{j}} = {{i * 2 + j}};', '#endfor', '#endfor'].join('\n');
    expect(preprocess(src, { N: 2 })).toBe('c0_0 = 0;\nc0_1 = 1;\nc1_0 = 2;\nc1_1 = 3;');
  });

  test('#include pastes a file once', () => {
    const files = { 'a.wgsl': 'fn a() {}', 'b.wgsl': '#include "a.wgsl"\nfn b() {}' };
    expect(preprocess('#include "a.wgsl"\n#include "b.wgsl"\nmain', {}, 'main', new Set(), files)).toBe('fn a() {}\nfn b() {}\nmain');
  });

  test('a disabled block leaves no trace: other kernels keep their exact WGSL', () => {
    const common = 'fn a() {}\n\nfn c() {}\n';
    const withBlock = 'fn a() {}\n\n#if NEW_FEATURE\nfn b() {}\n#endif\n\nfn c() {}\n';
    const main = '#include "common.wgsl"\n\n#if OLD\nfn old() {}\n#endif\n\nfn main() {}\n';
    const run = (c: string, d: Record<string, number>) => preprocess(main, { OLD: 0, NEW_FEATURE: 0, ...d }, 'main', new Set(), { 'common.wgsl': c });
    expect(run(withBlock, {})).toBe(run(common, {}));
    expect(run(common, {})).toBe('fn a() {}\n\nfn c() {}\n\nfn main() {}');
    expect(run(withBlock, { NEW_FEATURE: 1 })).toBe('fn a() {}\n\nfn b() {}\n\nfn c() {}\n\nfn main() {}');
  });

  test('the kernels from shaders/ do not change when a disabled block is added to a shared file', () => {
    const block = '\n#if KILN_TEST_BLOCK\nfn kiln_test_block() {}\n#endif\n';
    const files = { ...SHADERS, 'common.wgsl': `${SHADERS['common.wgsl']!}${block}`, 'movement.wgsl': SHADERS['movement.wgsl']!.replace('#if STRIDED', `${block}\n#if STRIDED`) };
    // The defines of a strided copy (kernels/movement.ts stridedKernel).
    const defines = { STRIDED: 1, GATHER: 0, SCATTER_LOOP: 0, SCATTER_ATOMIC: 0, FILL: 0, FLOAT: 0, WG: 64, N: 4, INDEX: 'let src = idx;\n  let dst = idx;\n  let inside = true;', PAD: 0, KILN_TEST_BLOCK: 0 };
    const before = preprocess(SHADERS['movement.wgsl']!, defines, 'movement.wgsl', new Set(['movement.wgsl']));
    const after = preprocess(files['movement.wgsl']!, defines, 'movement.wgsl', new Set(['movement.wgsl']), files);
    expect(after).toBe(before);
  });

  test('library helpers a kernel does not reach are left out (fn kiln_*, struct Kiln*)', () => {
    const src = preprocess('#include "common.wgsl"\nfn main() { let v = kiln_add(1.0f, kiln_f2i_user()); }\nfn kiln_f2i_user() -> f32 { return kiln_nan(); }', {});
    for (const kept of ['fn kiln_add(', 'fn kiln_special(', 'fn kiln_nan(', 'fn kiln_f2i_user(', 'fn main(']) expect(src).toContain(kept);
    for (const dropped of ['fn kiln_pow(', 'fn kiln_sincos(', 'struct KilnQuadrant', 'fn kiln_pcg(', 'fn kiln_wg(', 'Payne-Hanek']) expect(src).not.toContain(dropped);
  });

  test('mistakes are errors: unknown names, unclosed blocks, stray #endif', () => {
    expect(() => preprocess('{{NOPE}}', {})).toThrow(/'NOPE' is not defined/);
    expect(() => preprocess('#if 1\nx', {})).toThrow(/never closed/);
    expect(() => preprocess('#endif', {})).toThrow(/unmatched/);
    expect(() => preprocess('#for i in 0..2\n#endif', {})).toThrow(/does not close/);
  });

  test('shaders.gen.ts is generated from shaders/*.wgsl (run packages/webgpu/scripts/gen-shaders.ts)', () => {
    expect(readFileSync(GEN_FILE, 'utf8')).toBe(generateShaders());
  });
});
