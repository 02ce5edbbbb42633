/**
 * `prophet calibrate`: measures a hardware profile of this machine's CPU backend for one model
 * shape (`calibrate()`, progress on stderr) and saves it for `prophet train --profile`.
 */
import { Command } from 'commander';

import { calibrate } from '../balance/prophet/calibrate.js';
import { saveProfileFile } from '../balance/prophet/profile-file.js';
import { integer, withShapeOptions } from './train.js';

interface CalibrateFlags {
  ranks: number;
  experts: number;
  dModel: number;
  hidden: number;
  heads: number;
  batch: number;
  seq: number;
  out: string;
  quick?: boolean;
  passes: number;
}

export function registerCalibrate(program: Command): void {
  withShapeOptions(program.command('calibrate').description('measure a hardware profile (A2A, expert FFN, Trans/Agg, FNEC/BNEC, overlap costs) of W in-process ranks and save it as JSON'))
    .option('--batch <B>', 'sequences per rank (for FNEC/BNEC)', integer(1), 4)
    .option('--seq <S>', 'bytes per sequence', integer(1), 64)
    .option('--out <file>', 'where to save the profile', 'profile.json')
    .option('--quick', 'a few seconds: fewer sizes, shorter runs')
    .option('--passes <N>', 'passes over the micro-benchmarks, merged by the fastest sample (a loaded machine: more)', integer(1), 1)
    .action(async (flags: CalibrateFlags) => {
      const shape = {
        numRanks: flags.ranks,
        dModel: flags.dModel,
        hidden: flags.hidden,
        numExperts: flags.experts,
        numHeads: flags.heads,
        mlpHidden: 2 * flags.dModel,
        batchPerRank: flags.batch,
        seqLen: flags.seq,
      };
      const result = await calibrate(shape, { quick: flags.quick === true, passes: flags.passes });
      await saveProfileFile(flags.out, result.profile);
      const overlap = result.profile.overlap;
      const costs = overlap === undefined ? '' : `; overlap: interference ${overlap.interference.toFixed(2)}, hand-off ${(overlap.syncSeconds * 1e6).toFixed(1)} us per part`;
      console.error(`calibrate: profile saved to ${flags.out} (backward/forward measured ${result.backwardPerForward.toFixed(2)}; the model uses 2${costs})`);
    });
}
