/** Options objects (validated with zod, a failure names the function and the field), and Kiln's reserved names. */
import type { z } from 'zod';
import { OptionsError } from './errors';

/** Validate an options object with zod; a failure names the function and the field. */
export function parseOptions<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(options)'}: ${i.message}`);
  throw new OptionsError(`${what}: invalid options — ${issues.join('; ')}`);
}

/** The name of the train-flag input (`g.isTraining()`); names starting with '__' are Kiln's own. */
export const TRAINING_INPUT = '__training__';
