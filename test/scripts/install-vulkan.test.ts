// scripts/install-vulkan.sh decides from facts it reads through commands on PATH (dpkg-query,
// dpkg, apt-get, id) and two paths (KILN_OS_RELEASE, KILN_APT_ETC). Each test builds a fake
// machine in a temp dir: stub commands that record their calls, an os-release file and an apt
// etc dir, and a PATH holding only the stubs and the few real tools the script needs (awk,
// grep, ...). So the script can never reach the real dpkg or apt, nor touch /etc.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');
const script = path.join(root, 'scripts/install-vulkan.sh');
const BASH = '/bin/bash';

/** Real tools the script (and the stubs) use; everything else on the fake PATH is a stub. */
const TOOLS = ['awk', 'grep', 'mkdir', 'dirname', 'cat', 'sort', 'head'];

// Each stub appends "name args..." to $STUB_DIR/calls. State lives in files under $STUB_DIR:
// version (the installed version; absent: dpkg has never seen the package), after-install
// (the version apt-get install leaves behind; absent: install changes nothing), uid.
const STUBS: Record<string, string> = {
  'dpkg-query': `echo "dpkg-query $*" >> "$STUB_DIR/calls"
if [ -f "$STUB_DIR/version" ]; then printf 'ii |%s' "$(cat "$STUB_DIR/version")"; exit 0; fi
echo "dpkg-query: no packages found matching mesa-vulkan-drivers" >&2
exit 1`,
  // Only --compare-versions A ge B is used; sort -V orders Debian versions like 22.3.6-1+deb12u1.
  dpkg: `echo "dpkg $*" >> "$STUB_DIR/calls"
[ "$1" = --compare-versions ] && [ "$3" = ge ] || { echo "stub dpkg: unexpected $*" >&2; exit 2; }
[ "$(printf '%s\\n%s\\n' "$2" "$4" | sort -V | head -n 1)" = "$4" ]`,
  'apt-get': `echo "apt-get $*" >> "$STUB_DIR/calls"
case " $* " in *" install "*) [ -f "$STUB_DIR/after-install" ] && cat "$STUB_DIR/after-install" > "$STUB_DIR/version" ;; esac
exit 0`,
  id: `echo "id $*" >> "$STUB_DIR/calls"
[ "$1" = -u ] && cat "$STUB_DIR/uid"`,
};

interface Machine {
  /** Installed version; undefined: dpkg has never seen the package. */
  version?: string;
  /** Version left by `apt-get install`; undefined: the install changes nothing. */
  afterInstall?: string;
  uid?: number;
  codename?: string;
  /** Files under the apt etc dir, by relative path. */
  apt?: Record<string, string>;
  /** false: no dpkg-query / dpkg / apt-get on PATH (not Debian). */
  debian?: boolean;
}

interface Outcome {
  status: number | null;
  stdout: string;
  stderr: string;
  calls: string[];
  aptCalls: string[];
  /** The backports file the script wrote, or null. */
  backports: string | null;
}

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function run(m: Machine): Outcome {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-install-vulkan-'));
  dirs.push(dir);
  const bin = path.join(dir, 'bin');
  const aptEtc = path.join(dir, 'etc-apt');
  mkdirSync(bin);
  mkdirSync(path.join(aptEtc, 'sources.list.d'), { recursive: true });
  for (const tool of TOOLS) {
    const real = ['/usr/bin', '/bin'].map((d) => path.join(d, tool)).find((p) => existsSync(p));
    if (!real) throw new Error(`the test needs '${tool}' in /usr/bin or /bin`);
    symlinkSync(real, path.join(bin, tool));
  }
  for (const [name, body] of Object.entries(STUBS)) {
    if (m.debian === false && name !== 'id') continue;
    writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
  }
  if (m.version !== undefined) writeFileSync(path.join(dir, 'version'), m.version);
  if (m.afterInstall !== undefined) writeFileSync(path.join(dir, 'after-install'), m.afterInstall);
  writeFileSync(path.join(dir, 'uid'), `${m.uid ?? 0}\n`);
  writeFileSync(path.join(dir, 'os-release'), `ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=${m.codename ?? 'bookworm'}\n`);
  for (const [rel, text] of Object.entries(m.apt ?? {})) writeFileSync(path.join(aptEtc, rel), text);

  const r = spawnSync(BASH, [script], {
    env: { PATH: bin, STUB_DIR: dir, KILN_OS_RELEASE: path.join(dir, 'os-release'), KILN_APT_ETC: aptEtc },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const calls = existsSync(path.join(dir, 'calls')) ? readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n') : [];
  const backportsFile = path.join(aptEtc, 'sources.list.d/backports.sources');
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    calls,
    aptCalls: calls.filter((c) => c.startsWith('apt-get')),
    backports: existsSync(backportsFile) ? readFileSync(backportsFile, 'utf8') : null,
  };
}

const DEB822 = `Types: deb
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

const ONE_LINE = `deb http://security.example.org/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror2.example.org/debian bookworm main
`;

const BACKPORTS_INSTALL = ['apt-get update -qq', 'apt-get install -y -t bookworm-backports mesa-vulkan-drivers'];

describe('scripts/install-vulkan.sh decisions (stub dpkg/apt on PATH, temp apt dir)', () => {
  test('a package dpkg has never seen is "not installed": bookworm gets backports and the install', () => {
    const r = run({ afterInstall: '25.0.7-2~bpo12+1' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/mesa-vulkan-drivers not installed; need >= 23/);
    expect(r.stdout).toMatch(/mesa-vulkan-drivers 25\.0\.7-2~bpo12\+1 installed\./);
    expect(r.aptCalls).toEqual(BACKPORTS_INSTALL);
    // No sources to copy a mirror from: the Debian default.
    expect(r.backports).toMatch(/^URIs: http:\/\/deb\.debian\.org\/debian$/m);
  });

  test('old Mesa (22.3) on bookworm with deb822 sources: backports from the stanza of plain bookworm', () => {
    const r = run({ version: '22.3.6-1+deb12u1', afterInstall: '25.0.7-2~bpo12+1', apt: { 'sources.list.d/debian.sources': DEB822 } });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/mesa-vulkan-drivers 22\.3\.6-1\+deb12u1; need >= 23/);
    expect(r.backports).toBe(`Types: deb
URIs: http://mirror.example.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`);
    expect(r.aptCalls).toEqual(BACKPORTS_INSTALL);
  });

  test('old Mesa on bookworm with a one-line sources.list: the bookworm mirror, options skipped', () => {
    const r = run({ version: '22.3.6-1+deb12u1', afterInstall: '25.0.7-2~bpo12+1', apt: { 'sources.list': ONE_LINE } });
    expect(r.status).toBe(0);
    expect(r.backports).toMatch(/^URIs: http:\/\/mirror2\.example\.org\/debian$/m);
    expect(r.backports).toMatch(/^Suites: bookworm-backports$/m);
    expect(r.aptCalls).toEqual(BACKPORTS_INSTALL);
  });

  test.each([
    ['a one-line entry in sources.list', { 'sources.list': `${ONE_LINE}deb http://mirror2.example.org/debian bookworm-backports main\n` }],
    ['a deb822 file in sources.list.d', { 'sources.list.d/debian.sources': DEB822, 'sources.list.d/bpo.sources': 'Types: deb\nURIs: http://mirror.example.org/debian\nSuites: bookworm-backports\nComponents: main\n' }],
  ])('backports already configured (%s): nothing added, still installed from backports', (_what, apt) => {
    const r = run({ version: '22.3.6-1+deb12u1', afterInstall: '25.0.7-2~bpo12+1', apt });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/bookworm-backports already configured/);
    expect(r.backports).toBeNull();
    expect(r.aptCalls).toEqual(BACKPORTS_INSTALL);
  });

  test('a commented-out backports line does not count as configured', () => {
    const r = run({ version: '22.3.6-1+deb12u1', afterInstall: '25.0.7-2~bpo12+1', apt: { 'sources.list': `${ONE_LINE}# deb http://mirror2.example.org/debian bookworm-backports main\n` } });
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/already configured/);
    expect(r.backports).toMatch(/^URIs: http:\/\/mirror2\.example\.org\/debian$/m);
  });

  test.each(['23.0.0-1', '25.0.7-2~bpo12+1'])('new Mesa (%s): nothing to do, no apt call, no root check', (version) => {
    const r = run({ version, uid: 1000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${version.replace(/[.+~]/g, '\\$&')} already installed \\(>= 23\\); nothing to do`));
    expect(r.aptCalls).toEqual([]);
    expect(r.calls.some((c) => c.startsWith('id'))).toBe(false);
    expect(r.backports).toBeNull();
  });

  test('not root: says so and how to fix it, exits 0, calls no apt', () => {
    const r = run({ version: '22.3.6-1+deb12u1', uid: 1000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/not root, cannot install\. Run as root/);
    expect(r.stdout).toMatch(/falls back to the CPU backend/);
    expect(r.aptCalls).toEqual([]);
    expect(r.backports).toBeNull();
  });

  test('not Debian (no dpkg-query or apt-get on PATH): says so and exits 0', () => {
    const r = run({ debian: false });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/not a Debian\/apt system; install Mesa >= 23 Vulkan drivers \(lavapipe\) yourself\. Skipping\./);
    expect(r.calls).toEqual([]);
  });

  test('a Debian release other than bookworm installs from the default suites, no backports', () => {
    const r = run({ version: '22.3.6-1+deb12u1', afterInstall: '25.0.7-3', codename: 'trixie', apt: { 'sources.list.d/debian.sources': DEB822 } });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Debian 'trixie', not bookworm/);
    expect(r.aptCalls).toEqual(['apt-get update -qq', 'apt-get install -y mesa-vulkan-drivers']);
    expect(r.backports).toBeNull();
  });

  test('an install that still leaves an old Mesa fails with exit 1 and an ERROR on stderr', () => {
    const r = run({ version: '22.3.6-1+deb12u1', apt: { 'sources.list.d/debian.sources': DEB822 } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ERROR: mesa-vulkan-drivers is 22\.3\.6-1\+deb12u1 after the install; need >= 23/);
    expect(r.aptCalls).toEqual(BACKPORTS_INSTALL);
  });

  test('an install that leaves the package unknown to dpkg fails the same way', () => {
    const r = run({});
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ERROR: mesa-vulkan-drivers is not installed after the install/);
  });
});
