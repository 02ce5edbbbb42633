/**
 * The token exchange of one expert-parallel MoE layer under a placement, computed from the
 * all-gathered count matrix: where each rank's slots are computed, how many rows each rank sends
 * to and receives from every other, and how received rows are regrouped from rank-major (the
 * all-to-all's layout) into the two compute groups of the FFN: the rank's home experts
 * (expert-major, sources in rank order) and the replicas it hosts (expert order, its own rows).
 * A pure function of the counts and the placement: every rank computes its own part of one plan.
 *
 * Where a slot is computed (Pro-Prophet §IV-A): rank p's slots for expert e stay on p when p hosts
 * e (home or replica), and go to home(e) otherwise. Routing never changes.
 */
import { checkInteger, invalidValue } from '../errors.js';
import { emptyPlacement, validatePlacement, type Placement } from '../balance/prophet/placement.js';

/** One contiguous run of rows moved by a regrouping copy. */
export interface RowBlock {
  /** First row in the rank-major (all-to-all) buffer. */
  readonly rankMajorRow: number;
  /** Which FFN input the rows belong to. */
  readonly group: 'home' | 'replica';
  /** First row inside that group's buffer. */
  readonly groupRow: number;
  readonly numRows: number;
}

/** This rank's view of one layer's exchange. */
export interface ExchangePlan {
  readonly rank: number;
  readonly numRanks: number;
  readonly expertsPerRank: number;
  /** [numRanks] rows this rank sends to each rank (itself included: its locally computed rows). */
  readonly sendRowsPerRank: Int32Array;
  /** [numRanks] rows this rank receives from each rank. */
  readonly recvRowsPerRank: Int32Array;
  readonly numSendRows: number;
  readonly numRecvRows: number;
  /** [numExperts] first row of each expert's slots in this rank's send buffer (the dispatch
   * layout): destinations in rank order, experts in id order within a destination. */
  readonly rowOffsetPerExpert: Int32Array;
  /** [expertsPerRank] rows each home expert computes here. */
  readonly rowsPerLocalExpert: Int32Array;
  readonly numHomeRows: number;
  /** Experts this rank hosts as a replica, ascending. */
  readonly replicaExperts: readonly number[];
  /** Rows each hosted replica computes (this rank's own slots for it). */
  readonly rowsPerReplica: Int32Array;
  readonly numReplicaRows: number;
  /** Copies between the rank-major receive buffer and the groups. Empty runs are left out. */
  readonly blocks: readonly RowBlock[];
}

/**
 * Plans rank `rank`'s exchange.
 *
 * @param countMatrix [numRanks * numExperts] row-major: countMatrix[p * E + e] = slots rank p
 *   keeps for expert e (the all-gathered `countsPerExpert` of every rank).
 * @param placement replicas per expert (default: none, plain expert parallelism).
 *
 * Example (plain): W = 2, E = 4, counts rank 0 = [1, 2, 3, 0], rank 1 = [4, 0, 5, 6]. Rank 1
 * receives [3, 0] from rank 0 and [5, 6] from itself: recvRowsPerRank = [3, 11]; its experts
 * compute rowsPerLocalExpert = [8, 6]. With expert 2 replicated on rank 0, rank 0 keeps its 3
 * rows for expert 2 and rank 1 receives [0, 11].
 */
export function planExchange(countMatrix: ArrayLike<number>, numRanks: number, rank: number, placement?: Placement): ExchangePlan {
  // Step 1: shapes.
  checkInteger('numRanks', numRanks, 1);
  checkInteger('rank', rank, 0, numRanks - 1);
  const numExperts = countMatrix.length / numRanks;
  if (!Number.isInteger(numExperts) || numExperts < numRanks || numExperts % numRanks !== 0) {
    throw invalidValue('countMatrix', `numRanks * numExperts entries with numExperts a multiple of ${numRanks}`, `${countMatrix.length} entries`);
  }
  const p = placement === undefined ? emptyPlacement(numRanks, numExperts) : validatePlacement(placement, 'placement', { numRanks, numExperts });
  const expertsPerRank = numExperts / numRanks;
  const count = (src: number, e: number) => countMatrix[src * numExperts + e] ?? 0;
  const home = (e: number) => Math.floor(e / expertsPerRank);
  const hosts = (src: number, e: number) => home(e) === src || (p.replicas[e] ?? []).includes(src);
  /** Where rank src's slots for expert e are computed. */
  const where = (src: number, e: number) => (hosts(src, e) ? src : home(e));
  // Step 2: this rank's send buffer: destinations in rank order, experts in id order.
  const rowOffsetPerExpert = new Int32Array(numExperts);
  const sendRowsPerRank = new Int32Array(numRanks);
  let row = 0;
  for (let dst = 0; dst < numRanks; dst++) {
    for (let e = 0; e < numExperts; e++) {
      if (where(rank, e) !== dst) continue;
      rowOffsetPerExpert[e] = row;
      row += count(rank, e);
      sendRowsPerRank[dst] = (sendRowsPerRank[dst] ?? 0) + count(rank, e);
    }
  }
  // Step 3: group layouts: home experts expert-major (sources in rank order), then replicas.
  const firstHome = rank * expertsPerRank;
  const rowsPerLocalExpert = new Int32Array(expertsPerRank);
  const homeRowOf = new Map<string, number>(); // `${src}:${e}` → first row in the home group
  let homeRow = 0;
  for (let j = 0; j < expertsPerRank; j++) {
    for (let src = 0; src < numRanks; src++) {
      if (where(src, firstHome + j) !== rank) continue;
      homeRowOf.set(`${src}:${firstHome + j}`, homeRow);
      homeRow += count(src, firstHome + j);
      rowsPerLocalExpert[j] = (rowsPerLocalExpert[j] ?? 0) + count(src, firstHome + j);
    }
  }
  const replicaExperts = Array.from({ length: numExperts }, (_, e) => e).filter((e) => home(e) !== rank && hosts(rank, e));
  const rowsPerReplica = Int32Array.from(replicaExperts, (e) => count(rank, e));
  // Step 4: what arrives from each source, in the source's send order, and where it goes.
  const recvRowsPerRank = new Int32Array(numRanks);
  const blocks: RowBlock[] = [];
  let rankMajorRow = 0;
  let replicaRow = 0;
  for (let src = 0; src < numRanks; src++) {
    for (let e = 0; e < numExperts; e++) {
      if (where(src, e) !== rank) continue;
      const numRows = count(src, e);
      recvRowsPerRank[src] = (recvRowsPerRank[src] ?? 0) + numRows;
      const isReplica = home(e) !== rank;
      const groupRow = isReplica ? replicaRow : (homeRowOf.get(`${src}:${e}`) ?? 0);
      if (numRows > 0) blocks.push({ rankMajorRow, group: isReplica ? 'replica' : 'home', groupRow, numRows });
      if (isReplica) replicaRow += numRows;
      rankMajorRow += numRows;
    }
  }
  return {
    rank,
    numRanks,
    expertsPerRank,
    sendRowsPerRank,
    recvRowsPerRank,
    numSendRows: sum(sendRowsPerRank),
    numRecvRows: sum(recvRowsPerRank),
    rowOffsetPerExpert,
    rowsPerLocalExpert,
    numHomeRows: homeRow,
    replicaExperts,
    rowsPerReplica,
    numReplicaRows: replicaRow,
    blocks,
  };
}

function sum(values: Int32Array): number {
  return values.reduce((a, b) => a + b, 0);
}
