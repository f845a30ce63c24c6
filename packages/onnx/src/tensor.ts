/**
 * TensorProto <-> host arrays. Kiln holds f32, i32 and bool; ONNX's other element types map
 * onto them where every value fits (f64/f16/bf16 -> f32, (u)int8/16 and int64/uint32/uint64
 * -> i32 when in range), and anything else is a SerializationError naming the tensor.
 */
import { describeValue, type DType, OptionsError, SerializationError, UnsupportedError } from '@kiln/core';
import { int64, type TensorProto } from './proto';

/** ONNX TensorProto.DataType codes (onnx.proto). */
export const ONNX_DTYPE = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16,
  FLOAT8E4M3FN: 17, FLOAT8E4M3FNUZ: 18, FLOAT8E5M2: 19, FLOAT8E5M2FNUZ: 20, UINT4: 21, INT4: 22,
  FLOAT4E2M1: 23, FLOAT8E8M0: 24, UINT2: 25, INT2: 26,
} as const;
const NAMES = Object.fromEntries(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k])) as Record<number, string>;
export const onnxTypeName = (code: number): string => NAMES[code] ?? `type ${code}`;

/** The Kiln dtype an ONNX element type is held as, or an UnsupportedError. */
export function kilnDType(code: number, what: string): DType {
  switch (code) {
    case ONNX_DTYPE.FLOAT: case ONNX_DTYPE.DOUBLE: case ONNX_DTYPE.FLOAT16: case ONNX_DTYPE.BFLOAT16:
    case ONNX_DTYPE.FLOAT8E4M3FN: case ONNX_DTYPE.FLOAT8E4M3FNUZ: case ONNX_DTYPE.FLOAT8E5M2: case ONNX_DTYPE.FLOAT8E5M2FNUZ:
    case ONNX_DTYPE.FLOAT4E2M1: case ONNX_DTYPE.FLOAT8E8M0: return 'f32';
    case ONNX_DTYPE.UINT8: case ONNX_DTYPE.INT8: case ONNX_DTYPE.UINT16: case ONNX_DTYPE.INT16: case ONNX_DTYPE.INT32:
    case ONNX_DTYPE.INT64: case ONNX_DTYPE.UINT32: case ONNX_DTYPE.UINT64:
    case ONNX_DTYPE.UINT4: case ONNX_DTYPE.INT4: case ONNX_DTYPE.UINT2: case ONNX_DTYPE.INT2: return 'i32';
    case ONNX_DTYPE.BOOL: return 'bool';
    default: throw new UnsupportedError(`${what}: ONNX element type ${onnxTypeName(code)} has no Kiln dtype (Kiln holds f32, i32, bool)`);
  }
}
export const ONNX_OF: Record<DType, number> = { f32: ONNX_DTYPE.FLOAT, i32: ONNX_DTYPE.INT32, bool: ONNX_DTYPE.BOOL };

/** A tensor's values on the host, in Kiln's dtypes. */
export interface HostTensor { dtype: DType; dims: number[]; data: Float32Array | Int32Array | Uint8Array }

const BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };

function half(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1, e = (bits >> 10) & 0x1f, m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
const bfloat = (bits: number): number => new Float32Array(new Uint32Array([bits << 16]).buffer)[0]!;

/** The 8-bit floats of ONNX (all exactly representable in f32): [exponent bits, mantissa bits, bias, kind]. */
const FLOAT8: Record<number, [number, number, number, 'fn' | 'fnuz' | 'ieee']> = {
  17: [4, 3, 7, 'fn'], 18: [4, 3, 8, 'fnuz'], 19: [5, 2, 15, 'ieee'], 20: [5, 2, 16, 'fnuz'],
};
function float8(bits: number, code: number): number {
  const [eb, mb, bias, kind] = FLOAT8[code]!;
  if (kind === 'fnuz' && bits === 0x80) return NaN;
  const s = bits & 0x80 ? -1 : 1, e = (bits >> mb) & ((1 << eb) - 1), m = bits & ((1 << mb) - 1);
  if (kind === 'fn' && e === 15 && m === 7) return NaN;
  if (kind === 'ieee' && e === 31) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** (1 - bias - mb);
  return s * (1 + m / (1 << mb)) * 2 ** (e - bias);
}
const float4 = (nib: number): number => {
  const s = nib & 8 ? -1 : 1, e = (nib >> 1) & 3, m = nib & 1;
  return s * (e === 0 ? m * 0.5 : (1 + m / 2) * 2 ** (e - 1));
};
/** Sub-byte types: [bits per value, signed]; values are packed from the low bits up. */
const PACKED: Record<number, [number, boolean]> = { 21: [4, false], 22: [4, true], 23: [4, false], 25: [2, false], 26: [2, true] };

/** Max number of elements a decoded tensor may declare (Kiln's own limit on a tensor). */
export const MAX_ELEMENTS = 2 ** 32 - 1;

export function tensorDims(t: TensorProto, what: string): number[] {
  const dims = (t.dims ?? []).map((d, i) => int64(d, `${what} dim ${i}`));
  if (dims.some((d) => d < 0)) throw new SerializationError(`${what}: negative dim in [${dims.join(', ')}]`);
  if (dims.reduce((a, b) => a * b, 1) > MAX_ELEMENTS) throw new SerializationError(`${what}: dims [${dims.join(', ')}] exceed ${MAX_ELEMENTS} elements`);
  return dims;
}

/** Decode a TensorProto's values into Kiln's dtypes (checking that they fit). */
export function fromTensorProto(t: TensorProto, what: string): HostTensor {
  if (typeof t !== 'object' || t === null) throw new OptionsError(`fromTensorProto: argument 't': expected a TensorProto (decodeTensor's result), got ${describeValue(t)}`);
  const code = t.data_type ?? 0;
  if (t.data_location === 1 || (t.external_data?.length ?? 0) > 0) {
    throw new SerializationError(`${what}: refers to external data (${(t.external_data ?? []).map((e) => `${e.key}=${e.value}`).join(', ') || 'no location'}); Kiln reads self-contained models only`);
  }
  const dtype = kilnDType(code, what);
  const dims = tensorDims(t, what);
  const n = dims.reduce((a, b) => a * b, 1);
  const raw = t.raw_data && t.raw_data.length ? t.raw_data : undefined;
  if (FLOAT8[code] || PACKED[code] || code === 24) return fromSmallTypes(t, code, dtype, dims, n, raw, what);
  const want = (have: number) => {
    if (have !== n) throw new SerializationError(`${what}: dims [${dims.join(', ')}] need ${n} values, the tensor holds ${have}`);
  };
  // the count is checked before anything is allocated: dims may claim far more than the bytes hold
  if (raw) want(raw.length / BYTES[code]!);
  else want((code === 1 ? t.float_data : code === 11 ? t.double_data : code === 7 ? t.int64_data : code === 12 || code === 13 ? t.uint64_data : t.int32_data)?.length ?? 0);
  const vals: number[] | Float64Array = new Float64Array(n);
  if (raw) {
    const size = BYTES[code]!;
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) {
      const o = i * size;
      switch (code) {
        case 1: vals[i] = dv.getFloat32(o, true); break;
        case 2: case 9: vals[i] = dv.getUint8(o); break;
        case 3: vals[i] = dv.getInt8(o); break;
        case 4: vals[i] = dv.getUint16(o, true); break;
        case 5: vals[i] = dv.getInt16(o, true); break;
        case 6: vals[i] = dv.getInt32(o, true); break;
        case 7: vals[i] = Number(dv.getBigInt64(o, true)); break;
        case 10: vals[i] = half(dv.getUint16(o, true)); break;
        case 11: vals[i] = dv.getFloat64(o, true); break;
        case 12: vals[i] = dv.getUint32(o, true); break;
        case 13: vals[i] = Number(dv.getBigUint64(o, true)); break;
        case 16: vals[i] = bfloat(dv.getUint16(o, true)); break;
      }
    }
  } else {
    const src: ArrayLike<unknown> =
      code === 1 ? t.float_data ?? [] : code === 11 ? t.double_data ?? [] : code === 7 ? t.int64_data ?? [] :
      code === 12 || code === 13 ? t.uint64_data ?? [] : t.int32_data ?? [];
    for (let i = 0; i < n; i++) {
      const v = src[i];
      const x = typeof v === 'number' ? v : int64(v as never, what);
      vals[i] = code === 10 ? half(x) : code === 16 ? bfloat(x) : x;
    }
  }
  if (dtype === 'f32') return { dtype, dims, data: Float32Array.from(vals) };
  if (dtype === 'bool') return { dtype, dims, data: Uint8Array.from(vals, (v) => (v ? 1 : 0)) };
  for (let i = 0; i < n; i++) {
    const v = vals[i]!;
    if (!(v >= -(2 ** 31) && v < 2 ** 31)) throw new UnsupportedError(`${what}: ${onnxTypeName(code)} value ${v} at position ${i} does not fit Kiln's i32`);
  }
  return { dtype, dims, data: Int32Array.from(vals) };
}

/** 8-bit and packed 4/2-bit types: bytes in raw_data, or one byte per int32_data entry. */
function fromSmallTypes(t: TensorProto, code: number, dtype: DType, dims: number[], n: number, raw: Uint8Array | undefined, what: string): HostTensor {
  const bytes = raw ?? Uint8Array.from(t.int32_data ?? [], (v) => v & 0xff);
  const packed = PACKED[code];
  const per = packed ? 8 / packed[0] : 1;
  if (bytes.length !== Math.ceil(n / per)) throw new SerializationError(`${what}: dims [${dims.join(', ')}] need ${Math.ceil(n / per)} bytes of ${onnxTypeName(code)}, the tensor holds ${bytes.length}`);
  const out = dtype === 'f32' ? new Float32Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (!packed) { out[i] = code === 24 ? (bytes[i] === 0xff ? NaN : 2 ** (bytes[i]! - 127)) : float8(bytes[i]!, code); continue; }
    const [bits, signed] = packed;
    let v = (bytes[Math.floor(i / per)]! >> ((i % per) * bits)) & ((1 << bits) - 1);
    if (code === 23) { out[i] = float4(v); continue; }
    if (signed && v >= 1 << (bits - 1)) v -= 1 << bits;
    out[i] = v;
  }
  return { dtype, dims, data: out };
}

/** A host tensor as a TensorProto (raw little-endian data, Kiln's dtypes). */
export function toTensorProto(name: string, h: HostTensor): TensorProto {
  if (typeof name !== 'string') throw new OptionsError(`toTensorProto: argument 'name': expected a string, got ${describeValue(name)}`);
  if (typeof h !== 'object' || h === null || !(h.dtype in ONNX_OF) || !ArrayBuffer.isView(h.data) || !Array.isArray(h.dims)) {
    throw new OptionsError(`toTensorProto: argument 'h': expected a host tensor { dtype: 'f32' | 'i32' | 'bool', dims, data }, got ${describeValue(h)}`);
  }
  const bytes = new Uint8Array(h.dtype === 'bool' ? h.data.length : h.data.length * 4);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < h.data.length; i++) {
    if (h.dtype === 'f32') dv.setFloat32(i * 4, h.data[i]!, true);
    else if (h.dtype === 'i32') dv.setInt32(i * 4, h.data[i]!, true);
    else bytes[i] = h.data[i] ? 1 : 0;
  }
  return { name, dims: [...h.dims], data_type: ONNX_OF[h.dtype], raw_data: bytes };
}
