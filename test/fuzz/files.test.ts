// Fuzz the file formats Kiln reads: safetensors (bytes, and checkpoints loaded into a live
// Executable) and IDX (bytes, and .gz files through the streaming reader). Every input is
// accepted or refused with a CheckpointError / DataFormatError; what is accepted is
// self-consistent and round-trips; a refused checkpoint leaves every param and counter of
// the Executable exactly as it was (no partial load).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { compileWith, createReferenceBackend, Graph } from '@kiln/core';
import { checkpoint, checkpointBytes, data, loadCheckpointBytes } from '@kiln/nn';
import { BUDGET, concatBytes, mutateBytes, mutateJson, rng, sameBits, SCALE, SEED, Tally } from './fuzz';

const { decodeSafetensors, encodeSafetensors } = checkpoint;
type Tensors = Parameters<typeof encodeSafetensors>[0];
const hex = (b: Uint8Array) => Buffer.from(b.subarray(0, 160)).toString('hex') + (b.length > 160 ? `… (${b.length} bytes)` : '');

function safetensorsBases(): Uint8Array[] {
  const all: Tensors = {
    w: { dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, -2, 3.5, Number.NaN, Infinity, -0) },
    step: { dtype: 'I32', shape: [], data: Int32Array.of(7) },
    mask: { dtype: 'BOOL', shape: [3], data: Uint8Array.of(1, 0, 1) },
    half: { dtype: 'F16', shape: [2], data: Uint16Array.of(0x3c00, 0x7e00) },
    big: { dtype: 'I64', shape: [1], data: BigInt64Array.of(-5n) },
    empty: { dtype: 'U8', shape: [0, 4], data: new Uint8Array(0) },
    wide: { dtype: 'F64', shape: [2], data: Float64Array.of(Math.PI, -1e300) },
  };
  return [
    encodeSafetensors(all, { format: 'pt', note: 'fuzz' }),
    encodeSafetensors({ w: all.w! }),
    encodeSafetensors({}, {}),
    encodeSafetensors({ a: all.step!, b: all.mask!, '0': all.empty! }),
  ];
}

/** The header of a safetensors file as JSON, and its data section. */
function split(bytes: Uint8Array): { header: unknown; rest: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), rest: bytes.subarray(8 + n) };
}

function join8(header: string, rest: Uint8Array, pad: number): Uint8Array {
  const h = new TextEncoder().encode(header + ' '.repeat(pad));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(h.length), true);
  return concatBytes(len, h, rest);
}

/** A safetensors input: damaged bytes, or a mutated header with a consistent length prefix. */
function safetensorsInput(base: Uint8Array, r: ReturnType<typeof rng>): Uint8Array {
  if (r.chance(0.45)) return mutateBytes(base, r, 8 + 64);
  const { header, rest } = split(base);
  for (let m = 0, n = 1 + r.int(2); m < n; m++) {
    mutateJson(header, r, { ops: ['F32', 'I32', 'BOOL', 'F16', 'BF16', 'I64', 'U64', 'F8_E4M3', 'f32', 'Q4', 'data_offsets', 'dtype', 'shape', '__metadata__', '__proto__'] });
  }
  let text: string;
  try {
    text = JSON.stringify(header) ?? 'null';
  } catch {
    text = '{}';
  }
  const tail = r.chance(0.8) ? rest : mutateBytes(rest, r);
  return join8(text, tail, r.pick([0, 0, 1, 3, 7]));
}

describe('fuzz: safetensors', () => {
  it(`decodes or refuses ${BUDGET.safetensors * SCALE} mutated files with CheckpointError only; what decodes round-trips`, async () => {
    const bases = safetensorsBases();
    const r = rng(SEED + 1);
    const t = new Tally();
    for (let k = 0; k < BUDGET.safetensors * SCALE * 0.8; k++) {
      // A Node Buffer (what fs.readFile gives) is a view into a shared pool: readers must copy.
      const bytes = r.chance(0.3) ? Buffer.from(safetensorsInput(r.pick(bases), r)) : safetensorsInput(r.pick(bases), r);
      const res = await t.try(() => hex(bytes), () => decodeSafetensors(bytes, 'fuzz.safetensors'), (e) => e instanceof checkpoint.CheckpointError);
      if (!res.ok) continue;
      const file = res.value;
      for (const [name, tensor] of Object.entries(file.tensors)) {
        const n = tensor.shape.reduce((a, b) => a * b, 1);
        if (tensor.data.length !== n) t.problem(`tensor '${name}' ${tensor.dtype}[${tensor.shape}] has ${tensor.data.length} elements: ${hex(bytes)}`);
      }
      const again = decodeSafetensors(encodeSafetensors(file.tensors, file.metadata));
      const same = Object.keys(file.tensors).length === Object.keys(again.tensors).length
        && Object.entries(file.tensors).every(([name, a]) => {
          const b = again.tensors[name];
          return b !== undefined && b.dtype === a.dtype && b.shape.join() === a.shape.join() && sameBits(a.data, b.data);
        })
        && JSON.stringify(again.metadata) === JSON.stringify(file.metadata);
      if (!same) t.problem(`round trip changed the file: ${hex(bytes)}`);
    }

    // Checkpoints into a live Executable: a refused file changes nothing.
    const g = new Graph({ seed: 5 });
    const x = g.input('x', ['batch', 2]);
    const w = g.param('w', [2, 3], { init: 'glorotUniform' });
    const steps = g.param('steps', [], { dtype: 'i32', trainable: false });
    const loss = x.matmul(w).square().mean();
    g.assign(w, w.sub(g.grad(loss, [w])[0]!.mul(0.1)));
    g.assign(steps, steps.add(1));
    const exe = await compileWith(g, createReferenceBackend());
    await exe.run({ x: [1, 2, 3, 4] }, {}, { train: true });
    const good = await checkpointBytes(exe, { epoch: 2, batch: 1 });
    const state = async () => JSON.stringify({ w: Array.from((await exe.getParam('w')).data), steps: Array.from((await exe.getParam('steps')).data), runs: exe.runs, n: exe.steps });
    let before = await state();
    let loaded = 0;
    for (let k = 0; k < BUDGET.safetensors * SCALE * 0.2; k++) {
      const bytes = safetensorsInput(good, r);
      const res = await t.try(() => `checkpoint ${hex(bytes)}`, () => loadCheckpointBytes(exe, bytes), (e) => e instanceof checkpoint.CheckpointError);
      const after = await state();
      if (res.ok) {
        loaded++;
        before = after;
      } else if (after !== before) t.problem(`a refused checkpoint changed the Executable: ${before} -> ${after}: ${hex(bytes)}`);
    }
    console.log(`safetensors: ${t.summary()}; ${loaded} checkpoints loaded`);
    expect(t.crashes).toEqual([]);
    expect(t.problems).toEqual([]);
    expect(t.tried).toBe(BUDGET.safetensors * SCALE);
    expect(t.accepted).toBeGreaterThan(t.tried * 0.02); // the mutator reaches the success path too
    expect(t.refused).toBeGreaterThan(t.tried * 0.3);
    await exe.dispose();
  });
});

function idxBases(): Uint8Array[] {
  return [
    data.encodeIdx({ dtype: 'u8', shape: [3, 4], data: Uint8Array.from({ length: 12 }, (_, i) => i * 20) }),
    data.encodeIdx({ dtype: 'i32', shape: [2], data: [-1, 2 ** 31 - 1] }),
    data.encodeIdx({ dtype: 'f64', shape: [2, 1], data: [Math.E, -0] }),
    data.encodeIdx({ dtype: 'f32', shape: [1, 1, 2], data: [1.5, -2] }),
    data.encodeIdx({ dtype: 'i16', shape: [0], data: [] }),
    data.encodeIdx({ dtype: 'i8', shape: [], data: [-3] }),
  ];
}

const idxExpectations: (data.IdxExpectation | undefined)[] = [undefined, undefined, {}, { dtype: 'u8' }, { dtype: 'u8', shape: [null, 4] }, { shape: [2] }, { dtype: 'f32', shape: [null, 1, 2] }];

/** Parsed IDX tensors are equal element by element (NaN equal to NaN, -0 to -0). */
const sameIdx = (a: data.IdxTensor, b: data.IdxTensor) =>
  a.dtype === b.dtype && a.shape.join() === b.shape.join() && a.data.length === b.data.length && Array.from(a.data).every((v, i) => Object.is(v, b.data[i]));

describe('fuzz: IDX', () => {
  it(`parses or refuses ${BUDGET.idx * SCALE} mutated files with DataFormatError only; what parses round-trips`, async () => {
    const bases = idxBases();
    const r = rng(SEED + 2);
    const t = new Tally();
    const check = (bytes: Uint8Array, got: data.IdxTensor) => {
      const n = got.shape.reduce((a, b) => a * b, 1);
      if (got.data.length !== n) t.problem(`shape [${got.shape}] but ${got.data.length} elements: ${hex(bytes)}`);
      else if (!sameIdx(data.parseIdx(data.encodeIdx(got)), got)) t.problem(`round trip changed the tensor: ${hex(bytes)}`);
    };
    const inMemory = BUDGET.idx * SCALE - 200 * SCALE;
    for (let k = 0; k < inMemory; k++) {
      const mutated = mutateBytes(r.pick(bases), r, 16);
      const bytes = r.chance(0.3) ? Buffer.from(mutated) : mutated;
      const expect = r.pick(idxExpectations);
      const res = await t.try(() => `${hex(bytes)} expecting ${JSON.stringify(expect)}`, () => data.parseIdx(bytes, 'fuzz-idx', expect), (e) => e instanceof data.DataFormatError);
      if (res.ok) check(bytes, res.value);
    }
    // Files, gzipped or not, through the streaming reader: damaged streams, and headers that
    // declare less (or more) than the stream inflates to, with a small size limit.
    const dir = await mkdtemp(join(tmpdir(), 'kiln-fuzz-idx-'));
    try {
      for (let k = 0; k < 200 * SCALE; k++) {
        const base = r.pick(bases);
        let bytes: Uint8Array;
        switch (r.int(4)) {
          case 0: bytes = gzipSync(mutateBytes(base, r, 16)); break;
          case 1: bytes = mutateBytes(gzipSync(base), r); break;
          case 2: bytes = gzipSync(concatBytes(base, new Uint8Array(r.pick([1, 4096, 1 << 20])))); break;
          default: bytes = mutateBytes(base, r, 16);
        }
        const path = join(dir, `f${k}${r.chance(0.5) ? '.gz' : ''}`);
        await writeFile(path, bytes);
        const expect = r.pick(idxExpectations);
        const maxBytes = r.pick([undefined, 64, 1 << 16]);
        const res = await t.try(() => `file ${hex(bytes)} expecting ${JSON.stringify(expect)}, maxBytes ${maxBytes}`, () => data.readIdxFile(path, expect, { maxBytes }), (e) => e instanceof data.DataFormatError);
        if (res.ok) check(bytes, res.value);
        await rm(path);
      }
      const missing = await t.try(() => 'a missing file', () => data.readIdxFile(join(dir, 'none')), (e) => e instanceof data.DataFormatError);
      expect(missing.ok).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    console.log(`IDX: ${t.summary()}`);
    expect(t.crashes).toEqual([]);
    expect(t.problems).toEqual([]);
    expect(t.tried).toBe(BUDGET.idx * SCALE + 1);
    expect(t.accepted).toBeGreaterThan(t.tried * 0.02); // the mutator reaches the success path too
    expect(t.refused).toBeGreaterThan(t.tried * 0.3);
  });
});

describe('readers copy out of Node Buffers (found by the fuzzer)', () => {
  it('a safetensors or IDX tensor decoded from a pooled Buffer holds its own elements only', () => {
    const st = Buffer.from(encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) } }));
    expect(st.buffer.byteLength).toBeGreaterThan(st.length); // a view into Node's shared pool
    const w = decodeSafetensors(st).tensors['w']!;
    expect(Array.from(w.data as Float32Array)).toEqual([1, 2]);
    expect(w.data.buffer.byteLength).toBe(8);
    const i8 = data.parseIdx(Buffer.from(data.encodeIdx({ dtype: 'i8', shape: [2], data: [-1, 5] })));
    expect(Array.from(i8.data)).toEqual([-1, 5]);
    const u8 = data.parseIdx(Buffer.from(data.encodeIdx({ dtype: 'u8', shape: [1], data: [7] })));
    expect(Buffer.isBuffer(u8.data)).toBe(false);
    expect(u8.data.buffer.byteLength).toBe(1);
  });
});
