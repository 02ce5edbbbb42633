/** The contract every benchmark module in bench/ fulfils. */
export interface Benchmark {
  /** The name given on the command line: `npm run bench -- NAME`. */
  readonly name: string;
  readonly description: string;
  /**
   * Runs the benchmark. `args` are the command-line arguments after NAME (minus --json).
   * Progress goes to stderr; the returned object is printed as JSON on stdout with --json, and
   * as a table otherwise. It carries `bench: name` and `rows`.
   */
  run(args: readonly string[]): Promise<BenchmarkResult>;
}

export interface BenchmarkResult {
  readonly bench: string;
  readonly rows: readonly Record<string, number | string | boolean | null>[];
  readonly [extra: string]: unknown;
}
