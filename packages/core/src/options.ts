/** Options objects: validated with zod, a failure names the function and the field. */
import type { z } from 'zod';
import { OptionsError } from './errors';

/** Validate an options object with zod; a failure names the function and the field. */
export function parseOptions<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(options)'}: ${i.message}`);
  throw new OptionsError(`${what}: invalid options — ${issues.join('; ')}`);
}
