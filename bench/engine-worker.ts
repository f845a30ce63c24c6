/**
 * One engine in a child process of the bench (see isolate.ts): `engine-worker.ts <engine-id>`,
 * forked with an IPC channel. It builds the engine, says whether it is available, then runs
 * each case it is sent (build, warm up, time, dispose) and answers with the timings.
 */
import type { Engine } from './engines/types';
import { createEngine } from './harness';
import { type Reply, type Request, findWorkload, runCase } from './isolate';

if (!process.send) throw new Error('engine-worker.ts runs as a child of the bench harness (it needs an IPC channel)');
const send = (r: Reply): void => { process.send!(r); };

let engine: Engine | undefined;

async function start(id: string): Promise<Reply> {
  const made = await createEngine(id);
  if (typeof made === 'string') return { type: 'ready', start: { available: made } };
  const ok = await made.available();
  if (ok !== true) return { type: 'ready', start: { available: typeof ok === 'string' ? ok : 'not available' } };
  engine = made;
  return { type: 'ready', start: { available: true, info: await made.info() } };
}

// One request at a time, in order: the parent waits for each answer before sending the next.
let queue: Promise<void> = start(process.argv[2] ?? '').then(send, (error: unknown) => {
  send({ type: 'ready', start: { available: `failed to start: ${(error as Error).message ?? String(error)}` } });
});

process.on('message', (m: Request) => {
  queue = queue.then(async () => {
    if (m.type === 'exit') {
      await engine?.dispose();
      process.exit(0);
    }
    const w = findWorkload(m.spec);
    if (!engine) send({ type: 'outcome', outcome: { ok: false, reason: 'engine not available' } });
    else if (!w) send({ type: 'outcome', outcome: { ok: false, reason: `no workload ${m.spec.bench} ${JSON.stringify(m.spec.params)} in this plan` } });
    else send({ type: 'outcome', outcome: await runCase(engine, w, m.spec.timing) });
  });
});
