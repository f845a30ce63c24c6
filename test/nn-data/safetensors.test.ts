import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CheckpointError, decodeSafetensors, encodeSafetensors, loadSafetensors, saveSafetensors, type SafetensorsTensor,
} from '../../packages/nn/src/checkpoint';

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

/** A file with a given header text (no padding added) and data section. */
function build(header: string, data: number[] | Uint8Array = []): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function errorOf(f: () => unknown): CheckpointError {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(CheckpointError); expect((e as Error).name).toBe('CheckpointError'); return e as CheckpointError; }
  throw new Error('expected a CheckpointError');
}

describe('encodeSafetensors: byte layout', () => {
  it('writes the hand-computed bytes for one F32 tensor', () => {
    // header {"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} is 54 bytes, padded with
    // 2 spaces to 56; then 1.0f = 0x3f800000 and -2.0f = 0xc0000000, little-endian.
    const expected = [
      56, 0, 0, 0, 0, 0, 0, 0,
      ...ascii('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'), 0x20, 0x20,
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0,
    ];
    expect(expected.length).toBe(72);
    const bytes = encodeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) } });
    expect(Array.from(bytes)).toEqual(expected);
    const back = decodeSafetensors(Uint8Array.from(expected), 'hand.safetensors');
    expect(back.tensors['a']).toEqual({ dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) });
    expect(back.metadata).toEqual({});
  });

  it('matches the reference implementation test vectors', () => {
    // From huggingface/safetensors tensor.rs: test_empty (with and without metadata) and
    // test_serialization ("attn.0", F32 [1, 2, 3] holding 0..5, header length 64).
    expect(Array.from(encodeSafetensors({}))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect(Array.from(encodeSafetensors({}, { framework: 'pt' }))).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, ...ascii('{"__metadata__":{"framework":"pt"}}'), 32, 32, 32, 32, 32,
    ]);
    const attn = encodeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } });
    expect(Array.from(attn.subarray(0, 8))).toEqual([64, 0, 0, 0, 0, 0, 0, 0]);
    expect(new TextDecoder().decode(attn.subarray(8, 72))).toBe('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}');
    expect(Array.from(attn.subarray(72))).toEqual([0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64]);
  });

  it('orders tensors widest dtype first then by name, so each starts aligned to its element size', () => {
    const bytes = encodeSafetensors({
      mask: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
      b: { dtype: 'F32', shape: [1], data: new Float32Array([1]) },
      step: { dtype: 'I64', shape: [], data: new BigInt64Array([5n]) },
      a: { dtype: 'F32', shape: [1], data: new Float32Array([2]) },
      h: { dtype: 'I16', shape: [1], data: new Int16Array([3]) },
    });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(Object.keys(header)).toEqual(['step', 'a', 'b', 'h', 'mask']);
    expect(header.step.data_offsets).toEqual([0, 8]);
    expect(header.a.data_offsets).toEqual([8, 12]);
    expect(header.b.data_offsets).toEqual([12, 16]);
    expect(header.h.data_offsets).toEqual([16, 18]);
    expect(header.mask.data_offsets).toEqual([18, 21]);
    expect(bytes.length).toBe(8 + n + 21);
  });
});

describe('safetensors round trip', () => {
  const tensors: Record<string, SafetensorsTensor> = {
    'dense.w': { dtype: 'F32', shape: [2, 3], data: new Float32Array([0.5, -1, 3.25, 1e-8, 7, -0]) },
    labels: { dtype: 'I32', shape: [4], data: new Int32Array([-2147483648, -1, 0, 2147483647]) },
    img: { dtype: 'U8', shape: [2, 2], data: new Uint8Array([0, 1, 254, 255]) },
    mask: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    f64: { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
    i8: { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
    i16: { dtype: 'I16', shape: [1], data: new Int16Array([-300]) },
    u16: { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
    half: { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }, // 1.0, -2.0 as f16 bits
    u32: { dtype: 'U32', shape: [1], data: new Uint32Array([4294967295]) },
    i64: { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 42n]) },
    u64: { dtype: 'U64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
    empty: { dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([9]) },
  };

  it('decodes exactly what was encoded, for every dtype, with metadata', () => {
    const out = decodeSafetensors(encodeSafetensors(tensors, { format: 'kiln', step: '100' }), 'rt');
    expect(out.metadata).toEqual({ format: 'kiln', step: '100' });
    expect(Object.keys(out.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const got = out.tensors[name]!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(got.data.constructor).toBe(t.data.constructor);
      expect(Array.from(got.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
    expect(Object.is(out.tensors['dense.w']!.data[5], -0)).toBe(true);
  });

  it('handles unaligned views on both sides', () => {
    const backing = new Float32Array([9, 1, 2, 3]);
    const view = backing.subarray(1); // byteOffset 4
    const bytes = encodeSafetensors({ odd: { dtype: 'I16', shape: [1], data: new Int16Array([7]) }, v: { dtype: 'F32', shape: [3], data: view } });
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1); // the file now starts at an odd address
    const out = decodeSafetensors(shifted.subarray(1));
    expect(Array.from(out.tensors['v']!.data as Float32Array)).toEqual([1, 2, 3]);
    expect(Array.from(out.tensors['odd']!.data as Int16Array)).toEqual([7]);
  });

  it('reads a file from another writer: pretty JSON, any key order, offsets not in header order', () => {
    const header = '{ "b": { "data_offsets": [4, 6], "shape": [2], "dtype": "U8" },\n  "a": {"shape":[1],"dtype":"I32","data_offsets":[0,4]} }';
    const out = decodeSafetensors(build(header, [7, 0, 0, 0, 200, 201]), 'other');
    expect(Object.keys(out.tensors)).toEqual(['a', 'b']); // file order
    expect(Array.from(out.tensors['a']!.data as Int32Array)).toEqual([7]);
    expect(Array.from(out.tensors['b']!.data as Uint8Array)).toEqual([200, 201]);
  });

  it('keeps a tensor named __proto__ and integer-like names', () => {
    const out = decodeSafetensors(encodeSafetensors({
      __proto__x: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) },
      ['__proto__']: { dtype: 'U8', shape: [1], data: new Uint8Array([2]) },
      '0': { dtype: 'U8', shape: [1], data: new Uint8Array([3]) },
    } as Record<string, SafetensorsTensor>));
    expect(Object.keys(out.tensors).sort()).toEqual(['0', '__proto__', '__proto__x']);
    expect(Array.from(Object.getOwnPropertyDescriptor(out.tensors, '__proto__')!.value.data)).toEqual([2]);
    expect(Object.getPrototypeOf(out.tensors)).toBe(Object.prototype);
    expect(Array.from(out.tensors['0']!.data as Uint8Array)).toEqual([3]);
  });
});

describe('decodeSafetensors refusals', () => {
  const good = encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });

  it('refuses a file shorter than the length prefix', () => {
    expect(errorOf(() => decodeSafetensors(good.subarray(0, 5), 'm.st')).message).toBe(
      'm.st: truncated: 5 bytes, the 8-byte header length alone needs 8',
    );
  });

  it('refuses a header length beyond the file, and an absurd one', () => {
    const long = good.slice();
    new DataView(long.buffer).setUint32(0, 1000, true);
    expect(errorOf(() => decodeSafetensors(long, 'm.st')).message).toBe(
      `m.st: truncated: header length 1000 reaches byte 1008, beyond the file's ${good.length} bytes`,
    );
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 2n ** 62n, true);
    expect(errorOf(() => decodeSafetensors(huge, 'm.st')).message).toMatch(/^m\.st: header length 4611686018427387904 is over the 100000000-byte limit/);
  });

  it('refuses invalid JSON, invalid UTF-8 and a non-object header', () => {
    expect(errorOf(() => decodeSafetensors(build('{"w": {'), 'j.st')).message).toMatch(/^j\.st: header is not valid UTF-8 JSON: /);
    const bad = build('{"\u00e9":1}');
    bad[10] = 0xff;
    expect(errorOf(() => decodeSafetensors(bad, 'u.st')).message).toMatch(/^u\.st: header is not valid UTF-8 JSON/);
    expect(errorOf(() => decodeSafetensors(build('[1, 2]'), 'a.st')).message).toBe('a.st: header must be a JSON object');
  });

  it('refuses an unknown dtype and a malformed entry, naming the tensor', () => {
    expect(errorOf(() => decodeSafetensors(build('{"w":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}}', [0]), 'd.st')).message)
      .toBe("d.st: tensor 'w': unknown dtype 'F7'");
    expect(errorOf(() => decodeSafetensors(build('{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', [0]), 'd.st')).message)
      .toMatch(/^d\.st: tensor 'w': malformed entry \(shape\.0: /);
    expect(errorOf(() => decodeSafetensors(build('{"w":{"dtype":"U8","shape":[1]}}', [0]), 'd.st')).message)
      .toMatch(/^d\.st: tensor 'w': malformed entry \(data_offsets: /);
    expect(errorOf(() => decodeSafetensors(build('{"__metadata__":{"step":1}}'), 'd.st')).message)
      .toMatch(/^d\.st: __metadata__ must map strings to strings/);
  });

  it('refuses offsets out of range (a truncated data section)', () => {
    expect(errorOf(() => decodeSafetensors(good.subarray(0, good.length - 1), 'cut.st')).message).toBe(
      "cut.st: tensor 'w': data_offsets [0, 8] out of range, the data section has 7 bytes",
    );
    expect(errorOf(() => decodeSafetensors(build('{"w":{"dtype":"U8","shape":[0],"data_offsets":[2,1]}}', [0, 0]), 'r.st')).message)
      .toBe("r.st: tensor 'w': data_offsets [2, 1] out of range, the data section has 2 bytes");
  });

  it('refuses offsets that do not match dtype x shape', () => {
    expect(errorOf(() => decodeSafetensors(build('{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}', new Uint8Array(12)), 's.st')).message)
      .toBe("s.st: tensor 'w': data_offsets [0, 12] span 12 bytes, F32 [2,2] needs 16");
  });

  it('refuses overlapping tensors, gaps and trailing bytes', () => {
    const overlap = build('{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}', [1, 2, 3, 4]);
    expect(errorOf(() => decodeSafetensors(overlap, 'o.st')).message).toBe(
      "o.st: tensor 'b': data_offsets [2, 4] overlap tensor 'a' (which ends at 4)",
    );
    const gap = build('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}', [1, 2, 3]);
    expect(errorOf(() => decodeSafetensors(gap, 'g.st')).message).toBe("g.st: tensor 'b': data_offsets [2, 3] leave a gap after byte 1");
    const tail = new Uint8Array(good.length + 3);
    tail.set(good);
    expect(errorOf(() => decodeSafetensors(tail, 't.st')).message).toBe(
      't.st: 3 trailing bytes after the last tensor (data section 11 bytes, tensors cover 8)',
    );
  });

  it('refuses BOOL bytes other than 0 and 1', () => {
    expect(errorOf(() => decodeSafetensors(build('{"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}', [1, 2]), 'b.st')).message)
      .toBe("b.st: tensor 'm': BOOL element 1 is 2, expected 0 or 1");
  });
});

describe('encodeSafetensors refusals', () => {
  it('refuses data that does not match dtype or shape, and reserved names', () => {
    expect(errorOf(() => encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float64Array(2) as unknown as Float32Array } })).message)
      .toBe("encodeSafetensors: tensor 'w': dtype F32 needs a Float32Array, got Float64Array");
    expect(errorOf(() => encodeSafetensors({ w: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } })).message)
      .toBe("encodeSafetensors: tensor 'w': shape [2,2] holds 4 elements, data has 3");
    expect(errorOf(() => encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [], data: new Uint8Array(1) } })).message)
      .toMatch(/'__metadata__' is reserved/);
    expect(errorOf(() => encodeSafetensors({ w: { dtype: 'Q4', shape: [], data: new Uint8Array(1) } as unknown as SafetensorsTensor })).message)
      .toBe("encodeSafetensors: tensor 'w': unknown dtype 'Q4'");
    expect(errorOf(() => encodeSafetensors({ w: { dtype: 'BOOL', shape: [1], data: new Uint8Array([3]) } })).message)
      .toMatch(/BOOL element 0 is 3/);
  });
});

describe('saveSafetensors / loadSafetensors', () => {
  it('saves atomically and loads back, replacing an existing file and leaving no temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-st-'));
    const path = join(dir, 'model.safetensors');
    await writeFile(path, 'old contents');
    await saveSafetensors(path, { w: { dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) } }, { epoch: '2' });
    expect(await readdir(dir)).toEqual(['model.safetensors']);
    const { tensors, metadata } = await loadSafetensors(path);
    expect(metadata).toEqual({ epoch: '2' });
    expect(Array.from(tensors['w']!.data as Float32Array)).toEqual([1, 2, 3]);
  });

  it('does not touch the existing file when the tensors are invalid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-st-'));
    const path = join(dir, 'model.safetensors');
    await saveSafetensors(path, { w: { dtype: 'U8', shape: [1], data: new Uint8Array([5]) } });
    const before = await readFile(path);
    await expect(saveSafetensors(path, { w: { dtype: 'U8', shape: [2], data: new Uint8Array([5]) } })).rejects.toThrow(CheckpointError);
    expect(Buffer.compare(await readFile(path), before)).toBe(0);
    expect(await readdir(dir)).toEqual(['model.safetensors']);
  });

  it('names the path in load errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-st-'));
    const path = join(dir, 'broken.safetensors');
    await writeFile(path, new Uint8Array([1, 2, 3]));
    await expect(loadSafetensors(path)).rejects.toThrow(`${path}: truncated: 3 bytes`);
  });
});
