// Checkpoint files on disk: atomic and durable writes, temporary files that a killed save
// leaves behind, long names, and file-system failures as CheckpointError with their cause.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FileOps, writeFileAtomic } from '../../packages/nn/src/checkpoint/atomic';
import { CheckpointError, loadSafetensors, saveSafetensors, type SafetensorsTensor } from '../../packages/nn/src/checkpoint';

const tensors = (v: number): Record<string, SafetensorsTensor> => ({ w: { dtype: 'F32', shape: [3], data: new Float32Array([v, v + 1, v + 2]) } });

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'kiln-ckpt-io-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

async function failure(p: Promise<unknown>): Promise<CheckpointError & { cause: NodeJS.ErrnoException }> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(CheckpointError);
  return e as CheckpointError & { cause: NodeJS.ErrnoException };
}

/** Node's file-system calls, recorded, with some replaced. */
function recording(log: string[], replace: Partial<{ write: () => never; rename: () => never }> = {}): FileOps {
  return {
    mkdir: fsp.mkdir,
    readdir: fsp.readdir,
    rm: fsp.rm,
    rename: (async (from: string, to: string) => {
      log.push(`rename ${from.startsWith(dir) ? 'tmp' : from} -> ${to.slice(dir.length + 1)}`);
      if (replace.rename) replace.rename();
      return fsp.rename(from, to);
    }) as FileOps['rename'],
    open: (async (path: string, flags: string) => {
      const fh = await fsp.open(path, flags);
      const what = path === dir ? 'folder' : 'tmp';
      log.push(`open ${what} ${flags}`);
      return {
        writeFile: async (data: Uint8Array) => { log.push('write'); if (replace.write) replace.write(); return fh.writeFile(data); },
        sync: async () => { log.push(`fsync ${what}`); return fh.sync(); },
        close: async () => fh.close(),
      };
    }) as unknown as FileOps['open'],
  };
}

const errno = (code: string, syscall: string): never => {
  throw Object.assign(new Error(`${code}: simulated, ${syscall}`), { code, syscall });
};

describe('atomic checkpoint writes', () => {
  it('writes a temporary file, fsyncs it, renames it over the target, then fsyncs the folder', async () => {
    const log: string[] = [];
    const path = join(dir, 'm.safetensors');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]), recording(log));
    expect(log).toEqual(['open tmp wx', 'write', 'fsync tmp', 'rename tmp -> m.safetensors', 'open folder r', 'fsync folder']);
    expect(Array.from(await readFile(path))).toEqual([1, 2, 3]);
    expect(await readdir(dir)).toEqual(['m.safetensors']);
  });

  it('ENOSPC or EPERM: a CheckpointError naming the file and the step, the old file kept, no temporary file left', async () => {
    const path = join(dir, 'm.safetensors');
    await saveSafetensors(path, tensors(1));
    const full = await failure(writeFileAtomic(path, new Uint8Array(8), recording([], { write: () => errno('ENOSPC', 'write') })));
    expect(full.message).toMatch(new RegExp(`^${path}: write of the temporary file ${dir}/\\.kiln-save-[0-9a-f]{16}-\\d+-[0-9a-z]+-\\d+\\.tmp failed: ENOSPC`));
    expect(full.cause.code).toBe('ENOSPC');
    const denied = await failure(writeFileAtomic(path, new Uint8Array(8), recording([], { rename: () => errno('EPERM', 'rename') })));
    expect(denied.message).toMatch(new RegExp(`^${path}: rename failed: EPERM`));
    expect(denied.cause.code).toBe('EPERM');
    expect(await readdir(dir)).toEqual(['m.safetensors']);
    expect(Array.from((await loadSafetensors(path)).tensors['w']!.data as Float32Array)).toEqual([1, 2, 3]);
  });

  it('real file-system failures (EISDIR, ENOTDIR, ENAMETOOLONG, ENOENT) are CheckpointErrors with the Node error as cause', async () => {
    await mkdir(join(dir, 'taken'));
    const isDir = await failure(saveSafetensors(join(dir, 'taken'), tensors(1)));
    expect(isDir.message).toMatch(new RegExp(`^${dir}/taken: rename failed: EISDIR`));
    expect(isDir.cause.code).toBe('EISDIR');

    await writeFile(join(dir, 'file'), 'x');
    const notDir = await failure(saveSafetensors(join(dir, 'file', 'm.safetensors'), tensors(1)));
    expect(notDir.message).toMatch(new RegExp(`^${dir}/file/m.safetensors: create folder ${dir}/file failed: (ENOTDIR|EEXIST)`));
    expect(['ENOTDIR', 'EEXIST']).toContain(notDir.cause.code);

    const long = join(dir, `${'n'.repeat(256)}`);
    const tooLong = await failure(saveSafetensors(long, tensors(1)));
    expect(tooLong.message).toMatch(/rename failed: ENAMETOOLONG/);
    expect(tooLong.cause.code).toBe('ENAMETOOLONG');

    const missing = await failure(loadSafetensors(join(dir, 'none.safetensors')));
    expect(missing.message).toMatch(new RegExp(`^${dir}/none.safetensors: read failed: ENOENT`));
    expect(missing.cause.code).toBe('ENOENT');
    const folder = await failure(loadSafetensors(join(dir, 'taken')));
    expect(folder.cause.code).toBe('EISDIR');
    expect((await readdir(dir)).sort()).toEqual(['file', 'taken']); // no temporary file left by any failure
  });

  it('saves and loads a 235-byte (and a 255-byte) file name: the temporary name is short whatever the target', async () => {
    for (const n of [235, 255]) {
      const name = `${'c'.repeat(n - '.safetensors'.length)}.safetensors`;
      expect(Buffer.byteLength(name)).toBe(n);
      await saveSafetensors(join(dir, name), tensors(n));
      expect(Array.from((await loadSafetensors(join(dir, name))).tensors['w']!.data as Float32Array)).toEqual([n, n + 1, n + 2]);
    }
    // Multi-byte UTF-8: 85 three-byte characters are 255 bytes.
    const wide = '€'.repeat(85);
    expect(Buffer.byteLength(wide)).toBe(255);
    await saveSafetensors(join(dir, wide), tensors(7));
    expect((await readdir(dir)).length).toBe(3);
  });

  it('a save killed with SIGKILL leaves its temporary file; the next load (or save) of that file removes it', async () => {
    const path = join(dir, 'killed.safetensors');
    await saveSafetensors(path, tensors(1));
    const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
    // NOTE: node with tsx's loader, not the tsx CLI: the CLI runs the script in a grandchild,
    // which a SIGKILL to the child would not reach.
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/nn-data/fixtures/killed-save.ts'), path], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => {
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('renaming')) child.kill('SIGKILL'); });
      child.on('exit', (_code, sig) => resolve(sig));
      // A child that fails before the save exits by itself; one that hangs is killed and reported.
      setTimeout(() => child.kill('SIGKILL'), 50_000).unref();
    });
    if (signal !== 'SIGKILL') throw new Error(`the child was to be killed mid-save; stdout: ${out}; stderr: ${err}`);
    const left = (await readdir(dir)).filter((f) => f !== 'killed.safetensors');
    expect(left).toEqual([expect.stringMatching(new RegExp(`^\\.kiln-save-[0-9a-f]{16}-${child.pid}-[0-9a-z]+-1\\.tmp$`))]);
    expect((await readFile(join(dir, left[0]!))).length).toBe(1 << 20); // written and flushed, never renamed
    expect(Array.from((await loadSafetensors(path)).tensors['w']!.data as Float32Array)).toEqual([1, 2, 3]); // the old file is intact
    expect(await readdir(dir)).toEqual(['killed.safetensors']); // ... and the load removed the leftover
  }, 60_000);

  it('removes the temporary files of saves whose process is gone, on the next save or load of that file', async () => {
    const path = join(dir, 'm.safetensors');
    await saveSafetensors(path, tensors(1));
    const hash = (name: string) => createHash('sha256').update(name).digest('hex').slice(0, 16);
    const temp = (target: string, pid: number, token: string) => `.kiln-save-${hash(target)}-${pid}-${token}-1.tmp`;
    // A process that has exited: what a SIGKILL mid-save leaves.
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const dead = Number(child.stdout);
    const leftovers = {
      deadProcess: temp('m.safetensors', dead, 'zzzzzzz'),
      samePidOtherProcess: temp('m.safetensors', process.pid, 'zzzzzzz'), // e.g. the same pid in a restarted container
      liveProcess: temp('m.safetensors', process.ppid, 'zzzzzzz'), // a save in progress elsewhere: kept
      otherTarget: temp('other.safetensors', dead, 'zzzzzzz'), // cleaned by that file's next save or load
    };
    const fill = async () => { for (const f of Object.values(leftovers)) await writeFile(join(dir, f), new Uint8Array(1024)); };
    const left = async () => (await readdir(dir)).sort();

    await fill();
    await saveSafetensors(path, tensors(2));
    expect(await left()).toEqual([leftovers.liveProcess, leftovers.otherTarget, 'm.safetensors'].sort());

    await fill();
    await loadSafetensors(path);
    expect(await left()).toEqual([leftovers.liveProcess, leftovers.otherTarget, 'm.safetensors'].sort());
    await saveSafetensors(join(dir, 'other.safetensors'), tensors(3));
    expect(await left()).toEqual([leftovers.liveProcess, 'm.safetensors', 'other.safetensors'].sort());
  });
});
