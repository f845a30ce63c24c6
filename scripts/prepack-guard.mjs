#!/usr/bin/env node
/**
 * Each package's `prepack` script: refuses a pack that would make a broken tarball, with one
 * line saying what to run instead. A package packs right only through `pnpm pack` (which turns
 * `workspace:*` into versions and swaps in publishConfig.exports, pointing at dist/) after
 * `pnpm build` (scripts/build-packages.mjs writes dist/). `npm pack` keeps `workspace:*` and
 * the source `exports` (./src/index.ts), which a user's install cannot resolve.
 *
 * Run in the package's folder (npm and pnpm run lifecycle scripts there).
 */
import { existsSync, readFileSync } from 'node:fs';

const { name } = JSON.parse(readFileSync('package.json', 'utf8'));
const agent = process.env.npm_config_user_agent ?? '';
const fail = (why) => {
  console.error(`${name}: ${why}; pack with \`pnpm build && pnpm pack\` (or \`pnpm pack:check\`), see docs/packages.md`);
  process.exit(1);
};
if (!agent.startsWith('pnpm/')) fail(`refusing to pack with ${agent.split(' ')[0] || 'an unknown client'}: it keeps workspace:* ranges and the src/ exports`);
if (!existsSync('dist/index.js') || !existsSync('dist/index.d.ts')) fail('dist/ is missing (the build has not run)');
