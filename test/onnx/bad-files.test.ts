/**
 * Bad .onnx files: each kind of damage is a typed Kiln error naming what and where, never a
 * crash (TypeError, RangeError, out of memory), a hang or a half-built graph; and a seeded fuzz
 * of 2,400 mutated models (bit flips, truncations, inserted, deleted and overwritten bytes)
 * holds every refusal to a KilnError and every accepted model to a graph whose outputs exist.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Graph, KilnError, SerializationError, UnsupportedError } from '@kiln/core';
import { nn } from '@kiln/nn';
import { exportModel, importModel } from '@kiln/onnx';
import { ModelProtoType, type ModelProto } from '../../packages/onnx/src/proto';
import { listTests, nodeTestsDir } from './conformance-lib';

function mlpBytes(): Uint8Array {
  const g = new Graph({ seed: 3 });
  const x = g.input('x', ['batch', 4]);
  const y = nn.dense(nn.dense(x, 5, { activation: 'relu' }), 2).softmax();
  return exportModel(g, { inputs: { x }, outputs: { y } });
}
const decode = (b: Uint8Array) => ModelProtoType.toObject(ModelProtoType.decode(b), { longs: Number, bytes: Array }) as ModelProto;
const encode = (m: ModelProto) => ModelProtoType.encode(ModelProtoType.fromObject(m)).finish();

function expectRefused(bytes: Uint8Array, kind: typeof KilnError, pattern: RegExp): void {
  let err: unknown;
  try { importModel(bytes); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(kind);
  expect((err as Error).message).toMatch(pattern);
}

describe('bad files are refused with a SerializationError naming what and where', () => {
  const good = mlpBytes();
  test('the seed model imports', () => {
    expect(Object.keys(importModel(good).outputs)).toEqual(['y']);
  });
  test('truncated', () => expectRefused(good.slice(0, good.length - 7), SerializationError, /onnx model: not a valid ModelProto/));
  test('wrong magic (a PNG header, random bytes, empty input)', () => {
    expectRefused(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), SerializationError, /ModelProto|no graph/);
    expectRefused(new Uint8Array(0), SerializationError, /no graph/);
    expectRefused(new TextEncoder().encode('{"nodes": []}'), SerializationError, /ModelProto|no graph/);
  });
  test('not bytes at all', () => expectRefused('model.onnx' as unknown as Uint8Array, SerializationError, /expected a Uint8Array/));
  test('absurd dims: an initializer claiming 2**40 elements, an input of 2**40', () => {
    const m = decode(good);
    m.graph!.initializer![0]!.dims = [2 ** 20, 2 ** 20];
    expectRefused(encode(m), SerializationError, /initializer #0 .*exceed|need/);
    const m2 = decode(good);
    m2.graph!.input![0]!.type!.tensor_type!.shape!.dim = [{ dim_value: 2 ** 40 }, { dim_value: 4 }];
    expectRefused(encode(m2), SerializationError, /graph input #0 'x': dim 0 is 1099511627776/);
  });
  test('a cyclic graph', () => {
    const m = decode(good);
    const nodes = m.graph!.node!;
    nodes[0]!.input![0] = nodes[nodes.length - 1]!.output![0]!; // the first node reads the last one's output
    expectRefused(encode(m), SerializationError, /node #0 .* is not defined before this node \(missing initializer or input, or a cycle\)/);
  });
  test('a missing initializer', () => {
    const m = decode(good);
    const name = m.graph!.initializer![1]!.name!;
    m.graph!.initializer!.splice(1, 1);
    expectRefused(encode(m), SerializationError, new RegExp(`'${name.replace(/[/]/g, '\\/')}' is not defined before this node`));
  });
  test('duplicate names (two initializers, a node output redefining a value)', () => {
    const m = decode(good);
    m.graph!.initializer!.push({ ...m.graph!.initializer![0]! });
    expectRefused(encode(m), SerializationError, /initializer #\d+ .*used by another initializer/);
    const m2 = decode(good);
    m2.graph!.node![1]!.output![0] = m2.graph!.node![0]!.output![0]!;
    expectRefused(encode(m2), SerializationError, /node #1 .* is defined twice/);
  });
  test('external data references', () => {
    const m = decode(good);
    const t = m.graph!.initializer![0]!;
    t.raw_data = new Uint8Array(0) as never;
    t.data_location = 1;
    t.external_data = [{ key: 'location', value: 'weights.bin' }];
    expectRefused(encode(m), SerializationError, /initializer #0 .*external data \(location=weights.bin\)/);
  });
  test('an op Kiln cannot express is an UnsupportedError naming op type, node and opset', () => {
    const m = decode(good);
    m.graph!.node![0]!.op_type = 'Loop';
    m.graph!.node![0]!.name = 'the_loop';
    expectRefused(encode(m), UnsupportedError, /node #0 'the_loop' \(Loop, opset 18\): op type Loop is not supported/);
  });
});

/** mulberry32: the fuzz is the same on every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('fuzz: 2,400 mutated models are imported or refused with a KilnError', () => {
  const node = nodeTestsDir();
  const tests = listTests(node);
  const seeds = [mlpBytes(), ...['test_conv_with_strides_padding', 'test_simple_rnn_defaults', 'test_attention_4d_causal', 'test_reshape_extended_dims', 'test_layer_normalization_2d_axis0_expanded_ver18', 'test_gather_0', 'test_slice']
    .filter((t) => tests.includes(t)).map((t) => new Uint8Array(readFileSync(join(node, t, 'model.onnx'))))];
  expect(seeds.length).toBe(8);
  const seed = Number(process.env.KILN_FUZZ_SEED ?? 1);
  const r = rng(seed);
  const pick = (n: number) => Math.floor(r() * n);
  const counts = { imported: 0, refused: 0 };
  const crashes: string[] = [];
  for (let i = 0; i < 2400; i++) {
    const src = seeds[i % seeds.length]!;
    let b = Uint8Array.from(src);
    const edits = 1 + pick(4);
    for (let e = 0; e < edits; e++) {
      const at = pick(b.length);
      switch (pick(5)) {
        case 0: b[at] = b[at]! ^ (1 << pick(8)); break; // bit flip
        case 1: b = b.slice(0, at); break; // truncation
        case 2: b = Uint8Array.from([...b.slice(0, at), pick(256), ...b.slice(at)]); break; // insertion
        case 3: b = Uint8Array.from([...b.slice(0, at), ...b.slice(at + 1 + pick(8))]); break; // deletion
        default: b[at] = [0, 0x7f, 0x80, 0xff][pick(4)]!; // varint-shaped overwrite
      }
    }
    try {
      const m = importModel(b);
      for (const t of Object.values(m.outputs)) expect(t.graph).toBe(m.graph);
      counts.imported++;
    } catch (e) {
      if (e instanceof KilnError) counts.refused++;
      else crashes.push(`#${i} (seed model ${i % seeds.length}): ${(e as Error)?.name}: ${(e as Error)?.message?.slice(0, 200)} ${process.env.KILN_FUZZ_STACK ? (e as Error).stack : ''}`);
    }
  }
  expect(crashes).toEqual([]);
  // both outcomes occur: the mutations reach past the protobuf decoder into the importer
  expect(counts.imported).toBeGreaterThan(50);
  expect(counts.refused).toBeGreaterThan(500);
});
