/**
 * core/platform.ts: how Kiln reaches Node built-ins without an import a browser bundler sees.
 * The page side (UnsupportedError naming the caller, cores from navigator) is covered by
 * test/browser/bundle.test.ts, which runs the bundle without `process`.
 */
import os from 'node:os';
import { hardwareConcurrency, isNode, nodeBuiltin } from '@kiln/core';

test('under Node, nodeBuiltin returns the built-in module itself', () => {
  expect(isNode()).toBe(true);
  const path = nodeBuiltin<typeof import('node:path')>('node:path', 'test');
  expect(path.posix.join('a', '..', 'b', 'c')).toBe('b/c');
  expect(nodeBuiltin<typeof import('node:os')>('node:os', 'test')).toBe(os);
});

test('hardwareConcurrency is the cores Node may use', () => {
  expect(hardwareConcurrency()).toBe(os.availableParallelism());
});
