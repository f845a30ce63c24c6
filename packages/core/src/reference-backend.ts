/**
 * The reference backend: executes Plans on the host in float64 (rounding f32 stores), with
 * each non-elementwise step run by its primitive's `ref`. Slow and simple; `auto` never
 * picks it. It checks the compiler (fusion, folding, memory plan) against the evaluator.
 */
import type { Backend, BackendStats, Plan, PlanOperand, Program } from './backend';
import { DisposedError, GraphError } from './errors';
import type { Expr } from './expr';
import { exprEvaluator } from './expr-eval';
import { arrayFor, type TypedArray } from './host';
import { applyView } from './ops/movement';
import { spec } from './ops/primitives';
import { broadcastIndex } from './ops/util';
import type { DType } from './shape';

/** A new reference backend (float64 on the host; for tests and debugging). @example const exe = await compileWith(g, createReferenceBackend()); */
export function createReferenceBackend(): Backend {
  const params = new Map<string, Float64Array>();
  const dtypes = new Map<string, DType>();
  const stats: BackendStats = { submissions: 0, allocatedBytes: 0 };
  let disposed = false;
  const round = (dtype: DType, v: Float64Array) => (dtype === 'f32' ? v.map(Math.fround) : v);

  return {
    name: 'reference',
    description: 'float64 host reference',
    stats,
    maxBufferBytes: 2 ** 31,
    createParam(name, dtype, init) {
      params.set(name, Float64Array.from(init));
      dtypes.set(name, dtype);
    },
    async readParam(name) {
      const v = params.get(name);
      if (!v) throw new GraphError(`unknown param '${name}'`);
      const out = arrayFor(dtypes.get(name)!, v.length);
      out.set(v);
      return out;
    },
    writeParam(name, data) { params.get(name)!.set(data); },
    deleteParam(name) { params.delete(name); dtypes.delete(name); },
    async lower(plan: Plan): Promise<Program> {
      // Every expression of a step (its own, its epilogue's, its segments'), compiled once.
      const evaluators = new Map<Expr, ReturnType<typeof exprEvaluator>>();
      for (const s of plan.steps) {
        const exprs = s.kind === 'elementwise' ? [s.expr] : s.kind === 'packed' ? s.segments.map((g) => g.expr) : s.kind === 'op' ? [s.prologue?.expr, s.epilogue?.expr].filter((e) => e !== undefined) : [];
        for (const e of exprs) evaluators.set(e, exprEvaluator(e));
      }
      // Temps live in the memory plan's slots, as on a device: a temp overwritten by another
      // that shares its slot while still live reads wrong values, so plan parity checks the plan.
      const slotMemory = plan.slots.map((bytes) => new Float64Array(Math.ceil(bytes / 4)));
      return {
        async run(feeds, fetch, { step }) {
          if (disposed) throw new DisposedError('backend disposed');
          stats.submissions++;
          const vals = new Map<number, Float64Array>();
          for (const b of plan.buffers.values()) {
            if (b.kind === 'feed') vals.set(b.id, Float64Array.from(feeds.get(b.id)!));
            if (b.kind === 'param') vals.set(b.id, params.get(b.name!)!.slice());
            if (b.kind === 'const') vals.set(b.id, Float64Array.from(b.data!));
          }
          const slotOf = (id: number) => {
            const b = plan.buffers.get(id)!;
            return b.kind === 'temp' && b.slot !== undefined ? { memory: slotMemory[b.slot]!, size: b.size } : undefined;
          };
          const read = (id: number): Float64Array => {
            const s = slotOf(id);
            return s ? s.memory.subarray(0, s.size) : vals.get(id)!;
          };
          const write = (id: number, data: Float64Array) => {
            const s = slotOf(id);
            if (s) s.memory.set(data);
            else vals.set(id, data);
          };
          const ref = (o: PlanOperand) => ({ shape: o.shape, dtype: o.dtype, data: read(o.buf) });
          // out[i] = expr(inputs broadcast to shape), each input's values from `data`.
          const elementwise = (expr: Expr, inputs: readonly { shape: readonly number[]; data: Float64Array }[], shape: readonly number[]) => {
            const f = evaluators.get(expr)!;
            const n = shape.reduce((a, b) => a * b, 1);
            const maps = inputs.map((i) => broadcastIndex(i.shape, shape));
            const out = new Float64Array(n);
            const args = new Array<number>(inputs.length);
            for (let i = 0; i < n; i++) {
              for (let j = 0; j < inputs.length; j++) args[j] = inputs[j]!.data[maps[j]![i]!]!;
              out[i] = f(args, i, step);
            }
            return out;
          };
          const operands = (os: readonly PlanOperand[]) => os.map((o) => ({ shape: o.shape, data: read(o.buf) }));
          for (const s of plan.steps) {
            if (s.kind === 'assign') continue;
            if (s.kind === 'elementwise') {
              write(s.out.buf, round(s.out.dtype, elementwise(s.expr, operands(s.inputs), s.out.shape)));
              continue;
            }
            if (s.kind === 'packed') {
              const out = new Float64Array(plan.buffers.get(s.out.buf)!.size);
              for (const g of s.segments) out.set(elementwise(g.expr, operands(g.inputs), g.shape), g.offset);
              write(s.out.buf, round(s.out.dtype, out));
              continue;
            }
            // A prologue computes the first input (rounded as a kernel would store it).
            const x0 = s.inputs[0]!;
            const ins = s.inputs.map((o, i) => (i === 0 && s.prologue ? { shape: o.shape, dtype: o.dtype, data: round(o.dtype, elementwise(s.prologue.expr, operands(s.prologue.inputs), x0.shape)) } : ref(o)));
            let out = s.view
              ? applyView(ins[0]!, s.view, s.out.shape)
              : spec(s.op).ref(ins, s.attrs, { out: { shape: s.out.shape, dtype: s.out.dtype }, step });
            // An epilogue sees the kernel's result as stored (rounded to f32).
            if (s.epilogue) out = elementwise(s.epilogue.expr, [{ shape: s.out.shape, data: round(s.out.dtype, out) }, ...operands(s.epilogue.inputs)], s.out.shape);
            write(s.out.buf, round(s.out.dtype, out));
          }
          // Assigns are plain copies of equal size (lowering copied swapped or broadcast sources first).
          for (const s of plan.steps) {
            if (s.kind !== 'assign') continue;
            const at = s.srcOffset ?? 0;
            params.set(plan.buffers.get(s.dst.buf)!.name!, read(s.src.buf).slice(at, at + plan.buffers.get(s.dst.buf)!.size));
          }
          const outputs = new Map<number, TypedArray>();
          for (const b of fetch) {
            const buf = plan.buffers.get(b)!;
            const a = arrayFor(buf.dtype, buf.size);
            a.set(read(b));
            outputs.set(b, a);
          }
          return { outputs };
        },
        dispose() {},
      };
    },
    dispose() { disposed = true; params.clear(); },
  };
}
