/**
 * Atomic file replacement for checkpoints (Node only; modules are imported lazily):
 *
 *   write a temporary file in the target's folder -> fsync it -> rename it over the
 *   target -> fsync the folder
 *
 * so a crash at any point leaves either the old file or the new one, never a mix, and a
 * completed save survives a power loss. The temporary name is short and fixed in length
 * whatever the target's name (a 255-byte target name still works), and recognisable:
 *
 *   .kiln-save-<hash of the target's name>-<pid>-<process token>-<n>.tmp
 *
 * A process killed mid-save leaves its temporary file behind; the next save or load of the
 * same target removes it once its writer is gone (its pid is not alive, or the pid is ours
 * but the token is another process's, as after a container restart). Every file-system
 * failure becomes a CheckpointError naming the target and the operation, the Node error as
 * its cause.
 */
import { nodeBuiltin, ownedBytes } from '@kiln/core';
import { CheckpointError } from './errors';

type Fs = typeof import('node:fs/promises');

/** The file-system calls used here; tests substitute failing ones. */
export type FileOps = Pick<Fs, 'open' | 'rename' | 'rm' | 'readdir' | 'mkdir'>;

const PREFIX = '.kiln-save-';
/** Distinguishes this process's temporary files from those of an earlier process with the same pid. */
const TOKEN = Math.floor(Math.random() * 2 ** 32).toString(36).padStart(7, '0');
/** Temporary files this process is writing now: never stale. */
const active = new Set<string>();
let serial = 0;

const pid = (): number => globalThis.process?.pid ?? 0;

async function nodeOps(): Promise<FileOps> {
  return nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises', 'checkpoint files');
}

/** 16 hex digits of the target's file name: its temporary files are found by this prefix. */
async function nameHash(base: string): Promise<string> {
  const { createHash } = nodeBuiltin<typeof import('node:crypto')>('node:crypto', 'checkpoint files');
  return createHash('sha256').update(base).digest('hex').slice(0, 16);
}

/** A failed file-system call on `path` as a CheckpointError (the Node error is the cause). */
export function ioError(path: string, operation: string, cause: unknown): CheckpointError {
  // NOTE: not `instanceof Error`: errors from Node's own modules may come from another realm (vm, Jest).
  const message = (cause as { message?: unknown } | null)?.message;
  return new CheckpointError(`${path}: ${operation} failed: ${typeof message === 'string' ? message : String(cause)}`, { cause });
}

function alive(id: number): boolean {
  try {
    globalThis.process.kill(id, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * The temporary file name a save of `path` by this process would use next, in `path`'s
 * folder.
 */
export async function tempPath(path: string): Promise<string> {
  const { basename, dirname, join } = nodeBuiltin<typeof import('node:path')>('node:path', 'checkpoint files');
  return join(dirname(path), `${PREFIX}${await nameHash(basename(path))}-${pid()}-${TOKEN}-${++serial}.tmp`);
}

/**
 * Removes the temporary files that saves of `path` left behind when their process died.
 * Best effort: a folder that cannot be listed, or a file already gone, is not an error.
 * Returns the names removed.
 */
export async function removeStaleTemps(path: string, ops?: FileOps): Promise<string[]> {
  const fs = ops ?? (await nodeOps());
  const { basename, dirname, join } = nodeBuiltin<typeof import('node:path')>('node:path', 'checkpoint files');
  const dir = dirname(path);
  const mine = `${PREFIX}${await nameHash(basename(path))}-`;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = name.startsWith(mine) ? /^(\d+)-([0-9a-z]+)-\d+\.tmp$/.exec(name.slice(mine.length)) : null;
    if (!m) continue;
    const [owner, token] = [Number(m[1]), m[2]];
    const stale = token === TOKEN ? !active.has(join(dir, name)) : owner === pid() || !alive(owner);
    if (!stale) continue;
    try {
      await fs.rm(join(dir, name), { force: true });
      removed.push(name);
    } catch {
      // another process may be cleaning up too
    }
  }
  return removed;
}

/** Whether `dir` is a folder that can be listed (mkdir may report EACCES/EROFS for an existing one). */
const isFolder = (dir: string, fs: FileOps): Promise<boolean> => fs.readdir(dir).then(() => true, () => false);

/**
 * Creates `dir` and its missing ancestors one level at a time, each with a plain
 * (non-recursive) mkdir: up from `dir` until a level exists, then down again.
 */
// NOTE: not `mkdir(dir, { recursive: true })`: Node 20's recursive mkdir never settles under
// /proc (e.g. /proc/nope/x), where each level fails with ENOENT; level by level, the first
// failure other than ENOENT/EEXIST, or an ENOENT once the parent exists, is thrown.
async function makeFolders(path: string, dir: string, fs: FileOps): Promise<void> {
  const { dirname } = nodeBuiltin<typeof import('node:path')>('node:path', 'checkpoint files');
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    try {
      await fs.mkdir(d);
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && (await isFolder(d, fs))) break;
      if (code !== 'ENOENT' || dirname(d) === d) throw ioError(path, `create folder ${d}`, e);
      missing.push(d);
    }
  }
  for (const d of missing.reverse()) {
    try {
      await fs.mkdir(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(path, `create folder ${d}`, e);
    }
  }
}

/**
 * Writes `bytes` to `path` atomically and durably (see the module comment); creates missing
 * folders. Stale temporary files of the same target are removed first.
 *
 * @throws CheckpointError naming `path` and the failed operation (create folder, write,
 *   fsync, rename, fsync folder), with the Node error (EISDIR, EACCES, ENOSPC,
 *   ENAMETOOLONG, ...) as its cause; the temporary file is removed.
 * @example
 * await writeFileAtomic('ckpt/model.safetensors', bytes);
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array, ops?: FileOps): Promise<void> {
  const fs = ops ?? (await nodeOps());
  const { dirname } = nodeBuiltin<typeof import('node:path')>('node:path', 'checkpoint files');
  const dir = dirname(path);
  await makeFolders(path, dir, fs);
  await removeStaleTemps(path, fs);
  const tmp = await tempPath(path);
  active.add(tmp);
  let step = 'write';
  try {
    const fh = await fs.open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      step = 'fsync';
      await fh.sync();
    } finally {
      await fh.close();
    }
    step = 'rename';
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw ioError(path, step === 'rename' ? 'rename' : `${step} of the temporary file ${tmp}`, e);
  } finally {
    active.delete(tmp);
  }
  // NOTE: the rename itself is durable only once the folder's entry is flushed. Windows
  // cannot open a folder for fsync (and its rename is already journaled).
  if (globalThis.process?.platform === 'win32') return;
  try {
    const dh = await fs.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch (e) {
    throw ioError(path, `fsync of the folder ${dir}`, e);
  }
}

/**
 * Reads `path` whole; then removes stale temporary files of earlier saves of it.
 *
 * @throws CheckpointError naming `path` (ENOENT, EISDIR, EACCES, ...), the Node error as cause.
 */
export async function readFileChecked(path: string, ops?: Pick<Fs, 'readFile'> & FileOps): Promise<Uint8Array> {
  const fs = ops ?? (nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises', 'checkpoint files'));
  let buf: Uint8Array;
  try {
    buf = await fs.readFile(path);
  } catch (e) {
    throw ioError(path, 'read', e);
  }
  await removeStaleTemps(path, fs);
  return ownedBytes(buf);
}
