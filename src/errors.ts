/**
 * The project's one builder for argument errors and its runtime error type.
 *
 * Argument errors read "Expected <what> for <name> but received <value> of type <type>", with
 * dotted names for nested options ('options.topK'). A wrong type is a TypeError, a wrong value a
 * RangeError. Runtime failures are {@link ProphetError}s with a `code`; a native 'EINVAL' (the
 * backend refused a value, e.g. a NaN logit found by queued work) is a {@link ProphetRangeError},
 * which is both a RangeError and a ProphetError.
 */

/** Codes carried by runtime errors. */
export type ErrorCode =
  | 'EDISPOSED'
  | 'ECUDA'
  | 'ENCCL'
  | 'ECOMM'
  | 'ETIMEDOUT'
  | 'EINVAL'
  | 'ENOMEM'
  | 'ENOTSUP'
  | 'ENOTREADY'
  | 'EDEVICE'
  | 'ENOADDON'
  | 'ECHECKPOINT';

/**
 * A runtime failure (native, device, communication) with a machine-readable code.
 * `instanceof ProphetError` also holds for a {@link ProphetRangeError} (code 'EINVAL'), so one
 * check catches every coded failure whichever built-in error class it extends.
 */
export class ProphetError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProphetError';
    this.code = code;
  }

  static override [Symbol.hasInstance](value: unknown): value is ProphetError {
    // `this` is the class `instanceof` was asked about: a subclass keeps the ordinary check.
    const ordinary = Function.prototype[Symbol.hasInstance].call(this, value);
    return ordinary || (this === ProphetError && value instanceof ProphetRangeError);
  }
}

/**
 * A value the backend refused, found when the work ran rather than when it was queued (a NaN
 * logit, an expert index out of range): native status 'EINVAL'. It extends RangeError, like the
 * argument errors thrown before queuing, carries `code: 'EINVAL'` like every native failure, and
 * passes `instanceof ProphetError`. The message names the argument ("... logits[1, 1] is NaN").
 */
export class ProphetRangeError extends RangeError {
  readonly code: 'EINVAL' = 'EINVAL';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProphetRangeError';
  }
}

/** The error for a native failure with `code`: a ProphetRangeError for 'EINVAL', else a ProphetError. */
export function nativeFailure(code: ErrorCode, message: string, options?: { cause?: unknown }): ProphetError {
  return code === 'EINVAL' ? new ProphetRangeError(message, options) : new ProphetError(code, message, options);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `[${value.length > 8 ? `${value.length} items` : value.join(', ')}]`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as ArrayLike<unknown>).length ?? value.byteLength})`;
  if (value !== null && typeof value === 'object') return value.constructor?.name ?? 'object';
  return String(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** "Expected <expected> for <name> but received <value> of type <type>". */
export function invalidMessage(name: string, expected: string, actual: unknown): string {
  return `Expected ${expected} for ${name} but received ${describe(actual)} of type ${typeName(actual)}`;
}

/** A TypeError for a value of the wrong type. */
export function invalidType(name: string, expected: string, actual: unknown): TypeError {
  return new TypeError(invalidMessage(name, expected, actual));
}

/** A RangeError for a value of the right type but outside what is allowed. */
export function invalidValue(name: string, expected: string, actual: unknown): RangeError {
  return new RangeError(invalidMessage(name, expected, actual));
}

/** Returns `value` if it is an integer in [min, max]; throws TypeError/RangeError naming it. */
export function checkInteger(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const expected = max === Number.MAX_SAFE_INTEGER ? `integer >= ${min}` : `integer in [${min}, ${max}]`;
  if (typeof value !== 'number') throw invalidType(name, expected, value);
  if (!Number.isInteger(value) || value < min || value > max) throw invalidValue(name, expected, value);
  return value;
}

/** Returns `value` if it is a finite number in [min, max]. */
export function checkNumber(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  const expected = `finite number in [${min}, ${max}]`;
  if (typeof value !== 'number') throw invalidType(name, expected, value);
  if (!Number.isFinite(value) || value < min || value > max) throw invalidValue(name, expected, value);
  return value;
}

/** Returns `value` if it is one of `choices`. */
export function checkChoice<T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  const expected = `one of ${choices.map((c) => `'${c}'`).join(', ')}`;
  if (typeof value !== 'string') throw invalidType(name, expected, value);
  if (!(choices as readonly string[]).includes(value)) throw invalidValue(name, expected, value);
  return value as T;
}

/**
 * Re-throws a native error as a ProphetError (a ProphetRangeError for 'EINVAL', see
 * {@link nativeFailure}) when it has a code, appending the caller's stack
 * (captured before the native call) so that async failures point at user code.
 */
export function fromNative(error: unknown, callerStack?: string): unknown {
  if (!(error instanceof Error)) return error;
  const code = (error as Error & { code?: unknown }).code;
  if (error instanceof TypeError || error instanceof RangeError || typeof code !== 'string') {
    return error;
  }
  const wrapped = nativeFailure(code as ErrorCode, error.message, { cause: error });
  if (callerStack !== undefined) wrapped.stack = `${wrapped.name}: ${wrapped.message}\n${callerStack.split('\n').slice(1).join('\n')}`;
  return wrapped;
}

/** Awaits a native promise, converting its rejection with {@link fromNative}. */
export async function settleNative<T>(promise: Promise<T>, callerStack: string | undefined): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw fromNative(error, callerStack);
  }
}
