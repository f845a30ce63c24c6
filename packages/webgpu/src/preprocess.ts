/**
 * A tiny WGSL preprocessor for the kernel families in `shaders/*.wgsl`:
 *
 *   #include "common.wgsl"        paste another shader file (once per output)
 *   #if EXPR / #else / #endif     keep lines when EXPR is truthy
 *   #for r in A..B / #endfor      repeat lines for r = A, ..., B - 1 (unrolled register blocks)
 *   {{EXPR}}                      substitute a define, a loop variable or integer arithmetic on them
 *
 * EXPR is an integer/boolean expression over defines and loop variables: literals, names,
 * + - * / (integer) % ( ) == != < <= > >= && || !. A define may also be a string (inserted as
 * is by {{NAME}}, e.g. a loader function written by the caller). Unknown names are an error,
 * so a typo never silently becomes 0.
 */
import { SHADERS } from './shaders.gen';

export type Defines = Readonly<Record<string, number | string | boolean>>;

type Value = number | string | boolean;

class Parser {
  private pos = 0;
  private readonly tokens: string[];
  constructor(private readonly src: string, private readonly scope: Defines) {
    this.tokens = src.match(/\s*(\d+|[A-Za-z_]\w*|==|!=|<=|>=|&&|\|\||[-+*/%()<>!])/g)?.map((t) => t.trim()) ?? [];
    if (this.tokens.join('') !== src.replace(/\s+/g, '')) throw new Error(`wgsl preprocessor: cannot parse '${src}'`);
  }
  parse(): Value {
    const v = this.or();
    if (this.pos !== this.tokens.length) throw new Error(`wgsl preprocessor: unexpected '${this.tokens[this.pos]}' in '${this.src}'`);
    return v;
  }
  private peek = () => this.tokens[this.pos];
  private next = () => this.tokens[this.pos++];
  private or(): Value {
    let v = this.and();
    while (this.peek() === '||') { this.next(); const r = this.and(); v = !!v || !!r; }
    return v;
  }
  private and(): Value {
    let v = this.cmp();
    while (this.peek() === '&&') { this.next(); const r = this.cmp(); v = !!v && !!r; }
    return v;
  }
  private cmp(): Value {
    let v = this.sum();
    for (;;) {
      const op = this.peek();
      if (op !== '==' && op !== '!=' && op !== '<' && op !== '<=' && op !== '>' && op !== '>=') return v;
      this.next();
      const r = this.sum();
      v = op === '==' ? v === r : op === '!=' ? v !== r : op === '<' ? v < r : op === '<=' ? v <= r : op === '>' ? v > r : v >= r;
    }
  }
  private sum(): Value {
    let v = this.prod();
    while (this.peek() === '+' || this.peek() === '-') {
      const op = this.next();
      const r = this.prod();
      v = op === '+' ? Number(v) + Number(r) : Number(v) - Number(r);
    }
    return v;
  }
  private prod(): Value {
    let v = this.unary();
    while (this.peek() === '*' || this.peek() === '/' || this.peek() === '%') {
      const op = this.next();
      const r = Number(this.unary());
      v = op === '*' ? Number(v) * r : op === '/' ? Math.trunc(Number(v) / r) : Number(v) % r;
    }
    return v;
  }
  private unary(): Value {
    const t = this.next();
    if (t === '!') return !this.unary();
    if (t === '-') return -Number(this.unary());
    if (t === '(') {
      const v = this.or();
      if (this.next() !== ')') throw new Error(`wgsl preprocessor: missing ')' in '${this.src}'`);
      return v;
    }
    if (t === undefined) throw new Error(`wgsl preprocessor: unexpected end of '${this.src}'`);
    if (/^\d+$/.test(t)) return Number(t);
    if (!(t in this.scope)) throw new Error(`wgsl preprocessor: '${t}' is not defined (in '${this.src}')`);
    return this.scope[t]!;
  }
}

export function evalExpr(src: string, scope: Defines): Value {
  return new Parser(src, scope).parse();
}

function substitute(line: string, scope: Defines): string {
  return line.replace(/\{\{([^}]+)\}\}/g, (_, e: string) => {
    const v = evalExpr(e.trim(), scope);
    return typeof v === 'boolean' ? String(v) : String(v);
  });
}

interface Frame { kind: 'if' | 'for'; start: number }

/**
 * Expand a shader source with defines; `name` is used in error messages and for includes.
 * Library helpers (`fn kiln_*`, `struct Kiln*`, from common.wgsl and ieee.wgsl) that the
 * kernel does not reach are left out: every kernel includes them, and parsing the unused
 * ones cost lavapipe ~100 ms per pipeline (and would put them in every WGSL snapshot).
 */
export function preprocess(source: string, defines: Defines, name = '<source>', included = new Set<string>(), files: Readonly<Record<string, string>> = SHADERS): string {
  const expand = () => tidy(withoutUnusedHelpers(expandSource(source, defines, name, included, files)).split('\n'));
  // Only the common case is cached: the built-in files, nothing included yet but the source itself.
  const cacheable = files === SHADERS && [...included].every((f) => f === name);
  return cacheable ? memoExpanded(`${name}\n${[...included].join(',')}\n${definesKey(defines)}\n${source}`, expand) : expand();
}

/**
 * Expanded kernels by source and defines. The T steps of an unrolled loop build the same
 * kernels T times; expanding each once cut lowering a 2-layer LSTM at T=64 on WebGPU by the
 * ~4 s of CPU the preprocessor took. Bounded (cleared when full), and cleared when a shader
 * file's text is not the one it was filled from (tests edit SHADERS in place).
 */
const expanded = new Map<string, string>();
const EXPANDED_MAX = 4096;
let filledFrom: Readonly<Record<string, string>> = { ...SHADERS };

function memoExpanded(key: string, expand: () => string): string {
  const files = Object.keys(SHADERS);
  if (files.length !== Object.keys(filledFrom).length || files.some((f) => SHADERS[f] !== filledFrom[f])) {
    expanded.clear();
    filledFrom = { ...SHADERS };
  }
  const hit = expanded.get(key);
  if (hit !== undefined) return hit;
  const out = expand();
  if (expanded.size >= EXPANDED_MAX) expanded.clear();
  expanded.set(key, out);
  return out;
}

const definesKey = (defines: Defines): string => Object.entries(defines).map(([k, v]) => `${k}=${typeof v}:${String(v)}`).join(',');

/** Drop `fn kiln_*` / `struct Kiln*` blocks (with the comment lines right above them) that nothing kept refers to. */
function withoutUnusedHelpers(src: string): string {
  const lines = src.split('\n');
  const blocks = new Map<string, { from: number; to: number }>();
  for (let i = 0; i < lines.length; i++) {
    const m = /^(?:fn (kiln_\w+)\s*\(|struct (Kiln\w+)\s*\{)/.exec(lines[i]!);
    if (!m) continue;
    let depth = 0, end = i;
    for (let j = i; j < lines.length; j++) {
      const code = lines[j]!.replace(/\/\/.*$/, '');
      depth += (code.match(/\{/g)?.length ?? 0) - (code.match(/\}/g)?.length ?? 0);
      if (depth === 0 && code.includes('}')) { end = j; break; }
    }
    let from = i;
    while (from > 0 && lines[from - 1]!.trimStart().startsWith('//')) from--;
    blocks.set(m[1] ?? m[2]!, { from, to: end });
    i = end;
  }
  if (blocks.size === 0) return src;
  const inBlock = new Array<boolean>(lines.length).fill(false);
  for (const b of blocks.values()) for (let i = b.from; i <= b.to; i++) inBlock[i] = true;
  const names = [...blocks.keys()];
  const refs = (text: string) => {
    const code = text.replace(/\/\/.*$/gm, '');
    return names.filter((n) => new RegExp(`\\b${n}\\b`).test(code));
  };
  const used = new Set<string>();
  const todo = refs(lines.filter((_, i) => !inBlock[i]).join('\n'));
  while (todo.length) {
    const n = todo.pop()!;
    if (used.has(n)) continue;
    used.add(n);
    const b = blocks.get(n)!;
    todo.push(...refs(lines.slice(b.from, b.to + 1).join('\n').replace(new RegExp(`^(fn|struct) ${n}\\b`, 'm'), '')));
  }
  const drop = new Array<boolean>(lines.length).fill(false);
  for (const [n, b] of blocks) if (!used.has(n)) for (let i = b.from; i <= b.to; i++) drop[i] = true;
  return lines.filter((_, i) => !drop[i]).join('\n');
}

function expandSource(source: string, defines: Defines, name: string, included: Set<string>, files: Readonly<Record<string, string>>): string {
  const lines = source.split('\n');
  const out: string[] = [];
  const expand = (from: number, to: number, scope: Defines) => {
    let i = from;
    while (i < to) {
      const line = lines[i]!;
      const d = line.trim();
      if (d.startsWith('#include')) {
        const m = /^#include\s+"([^"]+)"$/.exec(d);
        if (!m) throw new Error(`${name}:${i + 1}: bad #include`);
        const file = m[1]!;
        if (!included.has(file)) {
          included.add(file);
          const src = files[file];
          if (src === undefined) throw new Error(`${name}:${i + 1}: no shader '${file}'`);
          out.push(expandSource(src, scope, file, included, files));
        }
        i++;
      } else if (d.startsWith('#if ') || d.startsWith('#for ')) {
        const end = matching(i);
        if (d.startsWith('#if ')) {
          const elseAt = findElse(i, end);
          if (evalExpr(d.slice(4), scope)) expand(i + 1, elseAt ?? end, scope);
          else if (elseAt !== undefined) expand(elseAt + 1, end, scope);
        } else {
          const m = /^#for\s+([A-Za-z_]\w*)\s+in\s+(.+)\.\.(.+)$/.exec(d);
          if (!m) throw new Error(`${name}:${i + 1}: bad #for (expected '#for v in A..B')`);
          const a = Number(evalExpr(m[2]!, scope)), b = Number(evalExpr(m[3]!, scope));
          for (let v = a; v < b; v++) expand(i + 1, end, { ...scope, [m[1]!]: v });
        }
        i = end + 1;
      } else if (d.startsWith('#else') || d.startsWith('#endif') || d.startsWith('#endfor')) {
        throw new Error(`${name}:${i + 1}: unmatched ${d}`);
      } else {
        out.push(substitute(line, scope));
        i++;
      }
    }
  };
  // index of the #endif/#endfor closing the block opened at `open`
  const matching = (open: number): number => {
    const stack: Frame[] = [];
    for (let i = open; i < lines.length; i++) {
      const d = lines[i]!.trim();
      if (d.startsWith('#if ')) stack.push({ kind: 'if', start: i });
      else if (d.startsWith('#for ')) stack.push({ kind: 'for', start: i });
      else if (d.startsWith('#endif') || d.startsWith('#endfor')) {
        const f = stack.pop();
        if (!f || (f.kind === 'if') !== d.startsWith('#endif')) throw new Error(`${name}:${i + 1}: ${d} does not close line ${f ? f.start + 1 : '?'}`);
        if (stack.length === 0) return i;
      }
    }
    throw new Error(`${name}:${open + 1}: block is never closed`);
  };
  const findElse = (open: number, end: number): number | undefined => {
    let depth = 0;
    for (let i = open + 1; i < end; i++) {
      const d = lines[i]!.trim();
      if (d.startsWith('#if ') || d.startsWith('#for ')) depth++;
      else if (d.startsWith('#endif') || d.startsWith('#endfor')) depth--;
      else if (depth === 0 && d.startsWith('#else')) return i;
    }
    return undefined;
  };
  expand(0, lines.length, defines);
  return tidy(out);
}

/**
 * Join output lines with runs of blank lines collapsed to one and none at either end. A block
 * that is left out (or a file included twice) leaves no trace: adding a disabled `#if` block,
 * with a blank line on each side, to a shared file does not change any other kernel's WGSL.
 */
function tidy(lines: readonly string[]): string {
  const out: string[] = [];
  for (const l of lines.flatMap((x) => x.split('\n'))) {
    const blank = l.trim() === '';
    if (blank && (out.length === 0 || out[out.length - 1]!.trim() === '')) continue;
    out.push(blank ? '' : l);
  }
  while (out.length && out[out.length - 1] === '') out.pop();
  return out.join('\n');
}

/** Expand `shaders/<file>` with defines. */
export function shader(file: string, defines: Defines): string {
  const src = SHADERS[file];
  if (src === undefined) throw new Error(`webgpu: no shader file '${file}' (known: ${Object.keys(SHADERS).join(', ')})`);
  return preprocess(src, defines, file, new Set([file]));
}
