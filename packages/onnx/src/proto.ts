/**
 * ONNX's protobuf schema (proto/onnx.proto, vendored) through protobufjs: decoding and
 * encoding ModelProto and TensorProto. No wire-format code of our own lives here: protobufjs
 * reads and writes the bytes; this module only turns its failures into SerializationErrors
 * and its 64-bit integers (Long objects) into numbers.
 */
import protobuf from 'protobufjs';
import { ownedBytes, SerializationError } from '@kiln/core';
import { ONNX_PROTO } from './onnx-proto.gen';

const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
export const ModelProtoType = root.lookupType('onnx.ModelProto');
export const TensorProtoType = root.lookupType('onnx.TensorProto');

/** The subset of the schema's messages Kiln reads and writes (field names as in onnx.proto). */
export type Int64 = number | { low: number; high: number; unsigned?: boolean };
export interface TensorShapeDim { dim_value?: Int64; dim_param?: string }
export interface TypeProto { tensor_type?: { elem_type?: number; shape?: { dim?: TensorShapeDim[] } } }
export interface ValueInfoProto { name?: string; type?: TypeProto }
export interface AttributeProto {
  name?: string; type?: number; f?: number; i?: Int64; s?: Uint8Array; t?: TensorProto;
  floats?: number[]; ints?: Int64[]; strings?: Uint8Array[]; g?: unknown; graphs?: unknown[]; ref_attr_name?: string;
}
export interface NodeProto { input?: string[]; output?: string[]; name?: string; op_type?: string; domain?: string; attribute?: AttributeProto[] }
export interface TensorProto {
  dims?: Int64[]; data_type?: number; float_data?: number[]; int32_data?: number[]; int64_data?: Int64[];
  double_data?: number[]; uint64_data?: Int64[]; raw_data?: Uint8Array; name?: string; data_location?: number;
  external_data?: { key?: string; value?: string }[]; string_data?: Uint8Array[]; segment?: unknown;
}
export interface GraphProto {
  node?: NodeProto[]; name?: string; initializer?: TensorProto[]; sparse_initializer?: unknown[];
  input?: ValueInfoProto[]; output?: ValueInfoProto[]; value_info?: ValueInfoProto[];
}
export interface ModelProto {
  ir_version?: Int64; opset_import?: { domain?: string; version?: Int64 }[]; producer_name?: string;
  producer_version?: string; graph?: GraphProto; functions?: unknown[];
}

/** A protobuf int64 as a JS number; values past 2**53 are refused rather than rounded. */
export function int64(v: Int64 | undefined | null, what: string): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'number' ? v : v.unsigned ? (v.high >>> 0) * 4294967296 + (v.low >>> 0) : v.high * 4294967296 + (v.low >>> 0);
  if (!Number.isSafeInteger(n)) throw new SerializationError(`${what}: int64 value ${n} is beyond 2**53`);
  return n;
}

function decode<T>(type: protobuf.Type, bytes: Uint8Array, what: string): T {
  if (!(bytes instanceof Uint8Array)) throw new SerializationError(`${what}: expected a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  try {
    return type.decode(bytes) as unknown as T;
  } catch (e) {
    throw new SerializationError(`${what}: not a valid ${type.name} (${(e as Error).message})`);
  }
}

export const decodeModel = (bytes: Uint8Array): ModelProto => decode<ModelProto>(ModelProtoType, bytes, 'onnx model');
export const decodeTensor = (bytes: Uint8Array, what = 'onnx tensor'): TensorProto => decode<TensorProto>(TensorProtoType, bytes, what);

export function encodeModel(m: ModelProto): Uint8Array {
  const err = ModelProtoType.verify(m);
  if (err) throw new SerializationError(`onnx export: the model does not fit onnx.proto (${err})`);
  // NOTE: protobufjs's writer returns a Node Buffer, possibly a view into Node's shared pool.
  return ownedBytes(ModelProtoType.encode(ModelProtoType.fromObject(m)).finish());
}
