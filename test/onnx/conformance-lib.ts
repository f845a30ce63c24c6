/**
 * Runs ONNX's public backend node tests (test/fixtures/onnx/onnx-node-tests.tar.gz, Apache-2.0,
 * LICENSE beside it) through importModel on one backend, and classifies each test:
 * - pass: every output matches (floats within rtol 1e-3 / atol 1e-7 as ONNX's runner does,
 *   integers and booleans exactly; int64/f64/f16 tensors held as i32/f32);
 * - unsupported: the importer refused the model with an UnsupportedError (an op, attribute or
 *   dtype Kiln cannot express), or an input/output cannot be represented in Kiln's dtypes;
 * - fail: anything else (a wrong number, a wrong shape, another error).
 * Inputs an op needs at build time (Reshape's shape, TopK's k, ...) are passed as constants,
 * one at a time as the importer names them (StaticInputError).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { type Backend, compileWith, KilnError, UnsupportedError } from '@kiln/core';
import { decodeModel, decodeTensor, fromTensorProto, type HostTensor, importModel, StaticInputError } from '@kiln/onnx';

export const FIXTURE = new URL('../fixtures/onnx/onnx-node-tests.tar.gz', import.meta.url).pathname;

/** Unpacks the fixture once per content hash into the OS temp folder; returns the node/ folder. */
export function nodeTestsDir(): string {
  const hash = createHash('sha256').update(readFileSync(FIXTURE)).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `kiln-onnx-node-tests-${hash}`);
  const node = join(dir, 'onnx-node-tests', 'node');
  if (!existsSync(dir)) {
    // unpack beside it and rename: suites in parallel workers never read a half-written copy
    const tmp = `${dir}.${process.pid}.${Date.now()}`;
    mkdirSync(tmp, { recursive: true });
    execFileSync('tar', ['-xzf', FIXTURE, '-C', tmp]);
    try { renameSync(tmp, dir); } catch { rmSync(tmp, { recursive: true, force: true }); } // another worker won
  }
  return node;
}

export const listTests = (node: string): string[] => readdirSync(node).filter((d) => d.startsWith('test_')).sort();

export type Outcome = { test: string; status: 'pass' | 'fail' | 'unsupported'; why: string };

const RTOL = 1e-3, ATOL = 1e-7;

function compare(got: ArrayLike<number>, gotShape: readonly number[], want: HostTensor, name: string): string | null {
  if (gotShape.length !== want.dims.length || gotShape.some((d, i) => d !== want.dims[i])) return `${name}: shape [${gotShape.join(', ')}], expected [${want.dims.join(', ')}]`;
  for (let i = 0; i < want.data.length; i++) {
    const a = Number(got[i]), b = Number(want.data[i]);
    if (Number.isNaN(b) && Number.isNaN(a)) continue;
    if (want.dtype !== 'f32') { if (a !== b) return `${name}[${i}] = ${a}, expected ${b}`; continue; }
    if (a === b) continue;
    if (!(Math.abs(a - b) <= ATOL + RTOL * Math.abs(b))) return `${name}[${i}] = ${a}, expected ${b}`;
  }
  return null;
}

const short = (e: unknown): string => ((e as Error).message ?? String(e)).replace(/\s+/g, ' ').slice(0, 160);

export async function runNodeTest(node: string, test: string, backend: Backend): Promise<Outcome> {
  const dir = join(node, test);
  const bytes = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
  const proto = decodeModel(bytes);
  const nonTensor = (proto.graph?.input ?? []).find((v) => !v.type?.tensor_type);
  if (nonTensor) return { test, status: 'unsupported', why: `input '${nonTensor.name}' is not a tensor (sequences, maps and optionals have no Kiln type)` };
  const data = join(dir, 'test_data_set_0');
  const files = readdirSync(data);
  const read = (prefix: string) => files.filter((f) => f.startsWith(prefix)).sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length)))
    .map((f) => decodeTensor(new Uint8Array(readFileSync(join(data, f))), `${test}/${f}`));
  let inputs: HostTensor[], outputs: HostTensor[];
  try {
    inputs = read('input_').map((t, i) => fromTensorProto(t, `input ${i}`));
    outputs = read('output_').map((t, i) => fromTensorProto(t, `output ${i}`));
  } catch (e) {
    return { test, status: 'unsupported', why: `test data: ${short(e)}` };
  }
  // graph inputs that are initializers (IR < 4) have no data file
  const inits = new Set((proto.graph?.initializer ?? []).map((t) => t.name));
  const inNames = (proto.graph?.input ?? []).map((v) => v.name ?? '').filter((n) => !inits.has(n));
  const outNames = (proto.graph?.output ?? []).map((v) => v.name ?? '');
  const given = new Map(inNames.map((n, i) => [n, inputs[i]!]));
  const constants: Record<string, HostTensor> = {};
  let model;
  for (;;) {
    try {
      model = importModel(bytes, { constants });
      break;
    } catch (e) {
      if (e instanceof StaticInputError && given.has(e.input) && !constants[e.input]) { constants[e.input] = given.get(e.input)!; continue; }
      if (e instanceof UnsupportedError) return { test, status: 'unsupported', why: short(e) };
      return { test, status: 'fail', why: `import: ${(e as Error).name}: ${short(e)}` };
    }
  }
  const feeds: Record<string, HostTensor['data'] | { data: HostTensor['data']; shape: number[] }> = {};
  for (const [name, t] of Object.entries(model.inputs)) {
    if (constants[name]) continue; // became a constant at import
    const v = given.get(name);
    if (!v) return { test, status: 'fail', why: `no data for input '${name}'` };
    feeds[name] = { data: t.dtype === v.dtype ? v.data : v.dtype === 'bool' ? Uint8Array.from(v.data) : t.dtype === 'f32' ? Float32Array.from(v.data) : Int32Array.from(v.data), shape: v.dims };
  }
  let exe;
  try {
    exe = await compileWith(model.graph, backend);
    const fetches = Object.fromEntries(outNames.map((n) => [n, model.outputs[n]!]));
    const got = await exe.run(feeds as never, fetches);
    for (const [i, n] of outNames.entries()) {
      const r = got[n] as unknown as { data: ArrayLike<number>; shape: readonly number[] };
      const bad = compare(r.data, r.shape, outputs[i]!, `output '${n}'`);
      if (bad) return { test, status: 'fail', why: bad };
    }
    return { test, status: 'pass', why: '' };
  } catch (e) {
    if (e instanceof UnsupportedError) return { test, status: 'unsupported', why: short(e) };
    return { test, status: 'fail', why: `${e instanceof KilnError ? '' : 'crash '}${(e as Error).name}: ${short(e)}` };
  } finally {
    await exe?.dispose();
  }
}

export function conformanceMarkdown(results: Record<string, Outcome[]>): string {
  const names = Object.keys(results);
  const lines = ['# ONNX conformance', '', 'Generated by `test/onnx/conformance.test.ts` (`pnpm conformance` for every backend) from ONNX\'s public backend node tests',
    '(950 tests of 114 op types, vendored in `test/fixtures/onnx/`). A test passes when every output matches ONNX\'s expected',
    'values (floats within rtol 1e-3 / atol 1e-7, integers and booleans exactly). *unsupported*: the importer refuses the model',
    'with an UnsupportedError naming what Kiln cannot express; *fail*: anything else.', ''];
  for (const b of names) {
    const r = results[b]!, pass = r.filter((o) => o.status === 'pass').length, uns = r.filter((o) => o.status === 'unsupported').length;
    lines.push(`**${b}**: ${pass} / ${r.length} pass (${((100 * pass) / r.length).toFixed(1)}%), ${uns} unsupported, ${r.length - pass - uns} fail.`, '');
  }
  lines.push(`| test | ${names.join(' | ')} | why not |`, `|---|${names.map(() => '---|').join('')}---|`);
  const all = results[names[0]!]!;
  for (const [i, o] of all.entries()) {
    const why = names.filter((b) => results[b]![i]!.status !== 'pass').map((b) => (names.length > 1 ? `${b}: ` : '') + results[b]![i]!.why).join('; ');
    lines.push(`| ${o.test} | ${names.map((b) => results[b]![i]!.status).join(' | ')} | ${why.replace(/\|/g, '\\|')} |`);
  }
  return lines.join('\n') + '\n';
}
