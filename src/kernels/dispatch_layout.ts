/**
 * Where each expert's block of token rows starts in the permuted (dispatched) buffer, and how
 * many rows go to each rank: the send counts of all-to-all-v.
 */
import { checkInteger, invalidType, invalidValue } from '../errors.js';

export interface DispatchLayout {
  /** [E]: exclusive prefix sum of the counts in expert order (the row where e's block starts). */
  readonly rowOffsetPerExpert: Int32Array;
  /** [W]: rows destined to each rank (the sum of its experts' counts). */
  readonly rowsPerRank: Int32Array;
  /** Total rows: Σ counts. */
  readonly numRows: number;
}

/**
 * The dispatch layout of `countsPerExpert` over `numRanks` ranks. Experts are split evenly and
 * in order: expert e lives on rank floor(e / (E / W)), so blocks in expert order are already
 * grouped by destination rank. Pure; blocks nothing.
 *
 * @param countsPerExpert [E] kept slots per expert (non-negative integers).
 * @param numRanks W, dividing E. Default 1.
 * @example
 * dispatchLayout([2, 0, 3, 1], 2)
 * // rowOffsetPerExpert [0, 2, 2, 5], rowsPerRank [2, 4], numRows 6
 */
export function dispatchLayout(countsPerExpert: ArrayLike<number>, numRanks = 1): DispatchLayout {
  if (countsPerExpert === null || typeof countsPerExpert !== 'object' || typeof countsPerExpert.length !== 'number') {
    throw invalidType('countsPerExpert', 'array of non-negative integers', countsPerExpert);
  }
  const numExperts = countsPerExpert.length;
  checkInteger('numRanks', numRanks, 1);
  if (numExperts % numRanks !== 0) {
    throw invalidValue('numRanks', `a divisor of the number of experts (${numExperts})`, numRanks);
  }
  const expertsPerRank = numExperts / numRanks;
  const rowOffsetPerExpert = new Int32Array(numExperts);
  const rowsPerRank = new Int32Array(numRanks);
  let numRows = 0;
  for (let e = 0; e < numExperts; e++) {
    const count = checkInteger(`countsPerExpert[${e}]`, countsPerExpert[e], 0);
    rowOffsetPerExpert[e] = numRows;
    numRows += count;
    if (numRows > 2 ** 31 - 1) throw invalidValue('countsPerExpert', 'counts summing to less than 2^31', countsPerExpert);
    const rank = Math.floor(e / expertsPerRank);
    rowsPerRank[rank] = (rowsPerRank[rank] ?? 0) + count;
  }
  return { rowOffsetPerExpert, rowsPerRank, numRows };
}
