// The Node process exits by itself after dispose(): Dawn keeps native threads alive while its
// instance is referenced, so a backend must let go of everything.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeGpu } from './support';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

describeGpu('process exit', () => {
  test('a script that disposes its backend exits within a few seconds of disposing', async () => {
    const child = spawn(join(root, 'node_modules/.bin/tsx'), [join(root, 'test/webgpu/fixtures/exit-after-dispose.ts')], {
      cwd: root, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '', err = '', disposedAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!disposedAt && out.includes('disposed')) disposedAt = Date.now();
    });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const code = await new Promise<number | null>((resolve) => {
      const killer = setTimeout(() => { child.kill('SIGKILL'); resolve(null); }, 40_000);
      child.on('exit', (c) => { clearTimeout(killer); resolve(c); });
    });
    const lingered = Date.now() - disposedAt;
    if (code !== 0) throw new Error(`exit code ${code}; stdout: ${out}; stderr: ${err.split('\n').filter((l) => !l.startsWith('Warning')).join('\n')}`);
    expect(out).toMatch(/disposed 1/);
    expect(lingered).toBeLessThan(3000);
  });
});
