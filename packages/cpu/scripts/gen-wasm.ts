/**
 * Assemble the CPU backend's WebAssembly (src/wasm/gemm-wat.ts) with wabt into
 * src/wasm/gemm.gen.ts: `pnpm exec tsx packages/cpu/scripts/gen-wasm.ts`.
 * test/cpu/wasm-gen.test.ts fails when the committed file differs from what this writes.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderGemmModules } from './wasm-assemble';

const out = join(dirname(fileURLToPath(import.meta.url)), '../src/wasm/gemm.gen.ts');
writeFileSync(out, await renderGemmModules());
console.log(`wrote ${out}`);
