/**
 * Text for language models: character and byte tokenizers with a saved vocabulary, a
 * train/validation split by document, and next-token windows as a RecordDataset.
 *
 *   const { train, validation } = splitDocuments(docs, { validationFraction: 0.1, seed: 1 });
 *   const tok = CharTokenizer.fromTexts(train);            // vocabulary from training text only
 *   await tok.save('vocab.json');
 *   const ds = nextTokenWindows(train.map((d) => tok.encode(d)), { length: 128, stride: 64 });
 *   // ds.columns: tokens [128] i32, targets [128] i32 (tokens shifted by one)
 */
import { nodeBuiltin } from '@kiln/core';
import { writeFileAtomic } from '../checkpoint/atomic';
import { DataFormatError } from './errors';
import { createRecordDataset, type RecordDataset, shuffleIndices } from './dataset';
import { arrayArg, check, docsArg, numberArg, optional, opts, pathArg } from '../args';

/** What every tokenizer offers. */
export interface Tokenizer {
  /** Ids are `0 .. vocabSize - 1`. */
  readonly vocabSize: number;
  /** Token ids (i32) of a text. */
  encode(text: string): Int32Array;
  /** The text of token ids. */
  decode(ids: ArrayLike<number>): string;
  /** A JSON-able description from which {@link tokenizerFromJSON} rebuilds the same tokenizer. */
  toJSON(): TokenizerJSON;
}

/** A tokenizer as saved to JSON (`saveTokenizer`) and read back (`tokenizerFromJSON`). */
export type TokenizerJSON = { kind: 'char'; unknown: string; vocab: string[] } | { kind: 'byte' };

/**
 * Characters (Unicode code points) to ids. Id 0 is the unknown character (`unknown`, shown
 * as U+FFFD by default), used for characters outside the vocabulary; ids 1.. are the
 * vocabulary in the order given (by frequency, ties by code point, from `fromTexts`).
 */
export class CharTokenizer implements Tokenizer {
  readonly vocab: readonly string[];
  readonly unknown: string;
  private readonly ids: Map<string, number>;

  constructor(vocab: readonly string[], options: { unknown?: string } = {}) {
    const seen = new Set<string>();
    for (const [i, c] of vocab.entries()) {
      if (typeof c !== 'string' || [...c].length !== 1) throw new RangeError(`CharTokenizer: vocabulary entry ${i} must be one character, got ${JSON.stringify(c)}`);
      if (seen.has(c)) throw new RangeError(`CharTokenizer: character ${JSON.stringify(c)} appears twice in the vocabulary`);
      seen.add(c);
    }
    this.vocab = [...vocab];
    this.unknown = options.unknown ?? '\uFFFD';
    this.ids = new Map(vocab.map((c, i) => [c, i + 1]));
  }

  /**
   * The characters of `texts` that occur at least `minCount` times (default 1), most frequent first.
   *
   * @example
   * const tok = CharTokenizer.fromTexts(trainDocs, { minCount: 2 });
   */
  static fromTexts(texts: readonly string[], options: { minCount?: number; maxSize?: number } = {}): CharTokenizer {
    const { minCount = 1, maxSize = Infinity } = options;
    const counts = new Map<string, number>();
    for (const t of texts) for (const c of t) counts.set(c, (counts.get(c) ?? 0) + 1);
    const vocab = [...counts].filter(([, n]) => n >= minCount)
      .sort((a, b) => b[1] - a[1] || a[0].codePointAt(0)! - b[0].codePointAt(0)!)
      .slice(0, Math.max(0, maxSize - 1)).map(([c]) => c);
    return new CharTokenizer(vocab);
  }

  get vocabSize(): number { return this.vocab.length + 1; }

  /** Token ids of a text; characters outside the vocabulary map to the unknown token. */
  encode(text: string): Int32Array {
    const out: number[] = [];
    for (const c of text) out.push(this.ids.get(c) ?? 0);
    return Int32Array.from(out);
  }

  /** The text of token ids. */
  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new RangeError(`CharTokenizer.decode: id ${id} at position ${i} is outside 0..${this.vocabSize - 1}`);
      s += id === 0 ? this.unknown : this.vocab[id - 1]!;
    }
    return s;
  }

  toJSON(): TokenizerJSON { return { kind: 'char', unknown: this.unknown, vocab: [...this.vocab] }; }

  /** Writes the vocabulary as JSON, atomically. */
  async save(path: string): Promise<void> { await saveTokenizer(this, path); }
}

/** UTF-8 bytes as ids 0..255: no vocabulary to fit, nothing unknown; decoding replaces invalid sequences with U+FFFD. */
export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = 256;
  /** The UTF-8 bytes of a text, as ids 0..255. */
  encode(text: string): Int32Array { return Int32Array.from(new TextEncoder().encode(text)); }
  /** The text of byte ids (invalid UTF-8 becomes U+FFFD). */
  decode(ids: ArrayLike<number>): string {
    const bytes = new Uint8Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id > 255) throw new RangeError(`ByteTokenizer.decode: id ${id} at position ${i} is not a byte`);
      bytes[i] = id;
    }
    return new TextDecoder().decode(bytes);
  }
  toJSON(): TokenizerJSON { return { kind: 'byte' }; }
  /** Writes `{ kind: 'byte' }` as JSON, atomically (Node). */
  async save(path: string): Promise<void> { await saveTokenizer(this, path); }
}

/** Rebuilds a tokenizer from {@link Tokenizer.toJSON}'s description. @throws DataFormatError for anything else. */
export function tokenizerFromJSON(json: unknown, where = 'tokenizer'): Tokenizer {
  const j = json as TokenizerJSON;
  if (j && typeof j === 'object' && j.kind === 'byte') return new ByteTokenizer();
  if (j && typeof j === 'object' && j.kind === 'char' && Array.isArray(j.vocab) && typeof j.unknown === 'string') {
    try {
      return new CharTokenizer(j.vocab, { unknown: j.unknown });
    } catch (e) {
      throw new DataFormatError(`${where}: ${(e as Error).message}`);
    }
  }
  throw new DataFormatError(`${where}: not a tokenizer description ({ kind: 'char', unknown, vocab } or { kind: 'byte' })`);
}

async function saveTokenizer(t: Tokenizer, path: string): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(t.toJSON())));
}

/**
 * Reads a tokenizer saved with `save`.
 *
 * @throws DataFormatError for a file that is not JSON or not a tokenizer description.
 * @example
 * const tok = await loadTokenizer('charlm.vocab.json');
 */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  check('loadTokenizer', [pathArg()], [path]);
  const text = await nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises', 'reading a vocabulary').readFile(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DataFormatError(`${path}: not JSON (${(e as Error).message})`);
  }
  return tokenizerFromJSON(json, path);
}

/**
 * Splits whole documents (never a document across the two sides) into train and validation,
 * in a seeded order: `round(count * validationFraction)` documents (at least 1) for validation.
 *
 * @throws RangeError for a fraction outside (0, 1) or fewer than 2 documents.
 * @example
 * const { train, validation } = splitDocuments(speeches, { validationFraction: 0.1, seed: 1 });
 */
export function splitDocuments<T>(docs: readonly T[], options: { validationFraction: number; seed?: number }): { train: T[]; validation: T[] } {
  check('splitDocuments', [arrayArg('docs', 'an array of documents'), opts()], [docs, options]);
  const { validationFraction: f, seed = 0 } = options;
  if (!(f > 0 && f < 1)) throw new RangeError(`splitDocuments: validationFraction must be in (0, 1), got ${f}`);
  if (docs.length < 2) throw new RangeError(`splitDocuments: needs at least 2 documents, got ${docs.length}`);
  const nVal = Math.min(docs.length - 1, Math.max(1, Math.round(docs.length * f)));
  const order = shuffleIndices(docs.length, seed);
  const isVal = new Set(Array.from(order.subarray(0, nVal)));
  // Each side keeps the documents' original order.
  return { train: docs.filter((_, i) => !isVal.has(i)), validation: docs.filter((_, i) => isVal.has(i)) };
}

/** Options of `nextTokenWindows`: window length, stride between windows, and the input and target column names. */
export interface WindowOptions {
  /** Tokens per window (the model's context length). */
  length: number;
  /** Start of one window to the next (default `length`: windows do not overlap). */
  stride?: number;
  /** Column names (default `tokens` and `targets`). */
  inputName?: string;
  targetName?: string;
}

/**
 * Next-token windows over each document's ids: window k of a document is
 * `ids[k*stride .. k*stride + length]` as input and the same shifted by one as target, so
 * position t is trained to predict token t + 1. Windows never cross a document boundary; a
 * document shorter than `length + 1` gives none.
 *
 * @throws RangeError for a length or stride that is not a positive integer.
 * @example
 * const ds = nextTokenWindows(docs.map((d) => tok.encode(d)), { length: 64, stride: 32 });
 * await fit(model, ds, { batchSize: 32, shuffle: true, seed: 1 });
 */
export function nextTokenWindows(docs: readonly Int32Array[], options: WindowOptions): RecordDataset {
  check('nextTokenWindows', [docsArg('docs'), opts()], [docs, options]);
  const { length, stride = options.length, inputName = 'tokens', targetName = 'targets' } = options;
  for (const [k, v] of [['length', length], ['stride', stride]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`nextTokenWindows: ${k} must be a positive integer, got ${String(v)}`);
  }
  if (inputName === targetName) throw new RangeError(`nextTokenWindows: input and target columns need different names, got '${inputName}' twice`);
  let count = 0;
  for (const d of docs) if (d.length > length) count += Math.floor((d.length - length - 1) / stride) + 1;
  const x = new Int32Array(count * length), y = new Int32Array(count * length);
  let w = 0;
  for (const d of docs) {
    for (let s = 0; s + length + 1 <= d.length; s += stride, w++) {
      x.set(d.subarray(s, s + length), w * length);
      y.set(d.subarray(s + 1, s + length + 1), w * length);
    }
  }
  if (count === 0) return { count: 0, columns: { [inputName]: { data: x, shape: [length] }, [targetName]: { data: y, shape: [length] } } };
  return createRecordDataset({ [inputName]: { data: x, shape: [length] }, [targetName]: { data: y, shape: [length] } });
}

/**
 * The bigram baseline of a language model, in nats per token: the cross-entropy on
 * `validation` of next-token probabilities counted on `train` (add-`alpha` smoothed), i.e.
 * the best a model that sees only the previous token can do from these counts.
 *
 * @example
 * const baseline = bigramCrossEntropy(trainIds, validIds, tok.vocabSize); // e.g. 2.4 nats/char
 */
export function bigramCrossEntropy(train: readonly Int32Array[], validation: readonly Int32Array[], vocabSize: number, alpha = 0.1): number {
  check('bigramCrossEntropy', [docsArg('train'), docsArg('validation'), numberArg('vocabSize', 'a positive integer'), optional(numberArg('alpha'))], [train, validation, vocabSize, alpha]);
  const counts = new Float64Array(vocabSize * vocabSize), totals = new Float64Array(vocabSize);
  for (const d of train) for (let i = 1; i < d.length; i++) { counts[d[i - 1]! * vocabSize + d[i]!]!++; totals[d[i - 1]!]!++; }
  let nll = 0, n = 0;
  for (const d of validation) {
    for (let i = 1; i < d.length; i++) {
      const p = (counts[d[i - 1]! * vocabSize + d[i]!]! + alpha) / (totals[d[i - 1]!]! + alpha * vocabSize);
      nll -= Math.log(p);
      n++;
    }
  }
  if (n === 0) throw new RangeError('bigramCrossEntropy: the validation documents have no token pairs');
  return nll / n;
}
