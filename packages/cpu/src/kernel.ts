/**
 * What a lowered step is on this backend: a closure over its buffers' typed arrays, run once
 * per Program run. Generated JavaScript is compiled once per distinct source text and shared.
 */
import { KernelCompileError, type PlanOperand, type TypedArray } from '@kiln/core';
import { HELPERS } from './render';

export interface Kernel {
  /** Kernel family and formulation, e.g. 'elementwise', 'matmul:js-tile4x4', 'matmul:webasm'. */
  readonly name: string;
  readonly ops: readonly string[];
  readonly shapes: string;
  /** Bytes moved and floating point operations, for profiles. */
  readonly bytes: number;
  readonly flops: number;
  run(step: number): void | Promise<void>;
  dispose?(): void;
}

/** Where a lowering finds the typed array behind a buffer, and scratch memory it may keep. */
export interface LowerContext {
  view(op: PlanOperand | number): TypedArray;
  /** Scratch memory owned by the Program (counted in allocatedBytes, freed on dispose). */
  scratchF32(n: number): Float32Array;
  scratchF64(n: number): Float64Array;
  /** The GEMM engine chosen for this backend (JS register tiles or gpu.js webasm). */
  readonly gemm: import('./gemm').GemmEngine;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => any;
const compiled = new Map<string, AnyFn>();

/**
 * Compile `function (params) { body }` with the shared helpers in scope as `H`. Identical
 * sources share one function object (and so one optimised V8 code object).
 */
export function compileJs<F extends AnyFn>(op: string, params: readonly string[], body: string): F {
  const key = `${params.join(',')}\n${body}`;
  let f = compiled.get(key);
  if (!f) {
    try {
      f = new Function('H', `"use strict"; return function kernel(${params.join(', ')}) {\n${body}\n};`)(HELPERS) as AnyFn;
    } catch (e) {
      const line = body.split('\n').find((l) => l.trim().length > 0);
      throw new KernelCompileError(`cpu backend: generated JavaScript for '${op}' does not compile: ${(e as Error).message}`, op, line);
    }
    compiled.set(key, f);
  }
  return f as F;
}

/** Distinct generated JavaScript kernels compiled in this process so far (for tests and scripts). */
export function compiledKernelSources(): number {
  return compiled.size;
}

export const shapeStr = (ops: readonly { shape: readonly number[] }[]): string => ops.map((o) => `[${o.shape.join(',')}]`).join(' ');

/** Bytes per element as the plan counts them (bool and i32 take 4). */
export const BYTES = 4;
