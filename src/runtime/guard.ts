import { fromNative } from '../errors.js';

/** Runs a synchronous native call, converting coded native errors into ProphetErrors. */
export function guard<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw fromNative(error);
  }
}
