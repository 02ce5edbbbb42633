/**
 * The token exchange of one expert-parallel MoE layer, computed from the all-gathered count
 * matrix: how many rows each rank sends to and receives from every other, and how received rows
 * are regrouped from rank-major (the all-to-all's layout) to expert-major (the FFN's layout).
 * A pure function of the counts: every rank computes its own part of the same plan.
 */
import { checkInteger, invalidValue } from '../errors.js';

/** One contiguous run of rows moved by a regrouping copy. */
export interface RowBlock {
  /** First row in the rank-major (all-to-all) buffer. */
  readonly rankMajorRow: number;
  /** First row in the expert-major (FFN) buffer. */
  readonly expertMajorRow: number;
  readonly numRows: number;
}

/** This rank's view of one layer's exchange. */
export interface ExchangePlan {
  readonly rank: number;
  readonly numRanks: number;
  readonly expertsPerRank: number;
  /** [numRanks] rows this rank sends to each rank (its tokens for that rank's experts). */
  readonly sendRowsPerRank: Int32Array;
  /** [numRanks] rows this rank receives from each rank (their tokens for its experts). */
  readonly recvRowsPerRank: Int32Array;
  /** [expertsPerRank] rows each local expert computes (summed over source ranks). */
  readonly rowsPerLocalExpert: Int32Array;
  readonly numSendRows: number;
  readonly numRecvRows: number;
  /** Copies that turn the rank-major receive buffer into the expert-major FFN input (and, read
   * the other way, the FFN output back into rank-major order). Empty runs are left out. */
  readonly blocks: readonly RowBlock[];
}

/**
 * Plans rank `rank`'s exchange.
 *
 * @param countMatrix [numRanks * numExperts] row-major: countMatrix[p * E + e] = slots rank p
 *   keeps for expert e (the all-gathered `countsPerExpert` of every rank).
 * @param numRanks W; expert e lives on rank floor(e / (E / W)).
 *
 * Example: W = 2, E = 4 (2 experts per rank), counts rank 0 = [1, 2, 3, 0], rank 1 = [4, 0, 5, 6].
 * Rank 1 receives [3, 0] from rank 0 and [5, 6] from itself: recvRowsPerRank = [3, 11]; its
 * experts compute rowsPerLocalExpert = [8, 6]; blocks: expert 2's rows from rank 0 (rows 0..2)
 * then from rank 1 (rows 3..7), then expert 3's rows from rank 1 (rows 8..13).
 */
export function planExchange(countMatrix: ArrayLike<number>, numRanks: number, rank: number): ExchangePlan {
  // Step 1: shapes.
  checkInteger('numRanks', numRanks, 1);
  checkInteger('rank', rank, 0, numRanks - 1);
  const numExperts = countMatrix.length / numRanks;
  if (!Number.isInteger(numExperts) || numExperts < numRanks || numExperts % numRanks !== 0) {
    throw invalidValue('countMatrix', `numRanks * numExperts entries with numExperts a multiple of ${numRanks}`, `${countMatrix.length} entries`);
  }
  const expertsPerRank = numExperts / numRanks;
  const count = (p: number, e: number) => countMatrix[p * numExperts + e] ?? 0;
  // Step 2: rows to and from every rank.
  const sendRowsPerRank = new Int32Array(numRanks);
  const recvRowsPerRank = new Int32Array(numRanks);
  const rowsPerLocalExpert = new Int32Array(expertsPerRank);
  const firstLocal = rank * expertsPerRank;
  for (let p = 0; p < numRanks; p++) {
    for (let j = 0; j < expertsPerRank; j++) {
      sendRowsPerRank[p] = (sendRowsPerRank[p] ?? 0) + count(rank, p * expertsPerRank + j);
      const incoming = count(p, firstLocal + j);
      recvRowsPerRank[p] = (recvRowsPerRank[p] ?? 0) + incoming;
      rowsPerLocalExpert[j] = (rowsPerLocalExpert[j] ?? 0) + incoming;
    }
  }
  // Step 3: regrouping runs, expert-major order (expert j, then source rank p).
  const blocks: RowBlock[] = [];
  const rankStart = exclusiveSum(recvRowsPerRank);
  let expertMajorRow = 0;
  for (let j = 0; j < expertsPerRank; j++) {
    for (let p = 0; p < numRanks; p++) {
      let rankMajorRow = rankStart[p] ?? 0;
      for (let i = 0; i < j; i++) rankMajorRow += count(p, firstLocal + i);
      const numRows = count(p, firstLocal + j);
      if (numRows > 0) blocks.push({ rankMajorRow, expertMajorRow, numRows });
      expertMajorRow += numRows;
    }
  }
  return {
    rank,
    numRanks,
    expertsPerRank,
    sendRowsPerRank,
    recvRowsPerRank,
    rowsPerLocalExpert,
    numSendRows: sum(sendRowsPerRank),
    numRecvRows: sum(recvRowsPerRank),
    blocks,
  };
}

function sum(values: Int32Array): number {
  return values.reduce((a, b) => a + b, 0);
}

function exclusiveSum(values: Int32Array): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 1; i < values.length; i++) out[i] = (out[i - 1] ?? 0) + (values[i - 1] ?? 0);
  return out;
}
