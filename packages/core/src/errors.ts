/**
 * Typed errors. Every user mistake is one of these, raised before any device work,
 * with a message that names the op, the node and the shapes or dtypes involved.
 */
export class KilnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Incompatible or malformed shapes (broadcasting, matmul inner dims, reshape sizes...). */
export class ShapeError extends KilnError {}
/** An op received a dtype it does not accept. */
export class DTypeError extends KilnError {}
/** A structural graph mistake: mixing graphs, unknown names, duplicate params, cycles. */
export class GraphError extends KilnError {}
/** An options object failed validation (zod), or an attribute is out of range. */
export class OptionsError extends KilnError {}
/** Graph JSON that is malformed, truncated or inconsistent. */
export class SerializationError extends KilnError {}
/** A feed that is missing, unknown, or of the wrong shape or dtype. */
export class FeedError extends KilnError {}
/** A gradient that cannot be taken (non-scalar without seed, non-differentiable input). */
export class GradientError extends KilnError {}
/** A backend that was asked for but cannot run here. */
export class BackendUnavailableError extends KilnError {}
/** A graph that needs an op or a size the backend cannot provide. */
export class UnsupportedError extends KilnError {}
/** A generated kernel failed to compile; carries the op and the offending source line. */
export class KernelCompileError extends KilnError {
  constructor(message: string, readonly op: string, readonly sourceLine?: string) {
    super(message);
  }
}
/** The device was lost or reported an uncaptured error: the Executable is poisoned. */
export class DeviceLostError extends KilnError {}
/** Using an Executable after dispose(). */
export class DisposedError extends KilnError {}

/**
 * A short, bounded description of a value for an error message (it may be hostile: deep,
 * huge): `undefined`, `"abc"`, `[1, 2, … (300 items)]`, `object`, `Float32Array`.
 */
export function describeValue(v: unknown): string {
  if (Array.isArray(v)) {
    const items = v.slice(0, 8).map((e) => (Array.isArray(e) ? '[…]' : typeof e === 'string' ? JSON.stringify(e.slice(0, 40)) : typeof e === 'number' || typeof e === 'boolean' ? String(e) : e === null ? 'null' : typeof e));
    return `[${items.join(', ')}${v.length > 8 ? `, … (${v.length} items)` : ''}]`;
  }
  if (typeof v === 'string') return JSON.stringify(v.slice(0, 40));
  if (typeof v === 'number' || typeof v === 'boolean' || v == null) return String(v);
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null;
    const name = proto?.constructor?.name;
    return proto === Object.prototype || proto === null || !name ? 'object' : name;
  }
  return typeof v;
}
