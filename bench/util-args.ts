/** Command-line helpers shared by the benchmarks (a `util` file: not a benchmark itself). */

/** The positive integer after `name` in `args`, or `fallback` when `name` is absent. */
export function integerOption(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`Expected a positive integer for ${name} but received ${args[i + 1]}`);
  return v;
}
