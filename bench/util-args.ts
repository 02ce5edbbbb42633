/** Command-line helpers shared by the benchmarks (a `util` file: not a benchmark itself). */

/** The positive integer after `name` in `args`, or `fallback` when `name` is absent. */
export function integerOption(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`Expected a positive integer for ${name} but received ${args[i + 1]}`);
  return v;
}

/** The number in [0, 1] after `name` in `args`, or undefined when `name` is absent. */
export function shareOption(args: readonly string[], name: string): number | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new RangeError(`Expected a number in [0, 1] for ${name} but received ${args[i + 1]}`);
  return v;
}
