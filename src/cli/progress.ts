/**
 * `prophet train`'s progress on stderr: a cli-progress bar on a terminal, and plain lines
 * otherwise (cli-progress draws nothing when stderr is not a TTY, so logs and CI would show no
 * progress at all).
 */
import { SingleBar } from 'cli-progress';

import type { StepProgress } from '../model/run.js';

/** Plain lines per run when stderr is not a terminal: about this many, plus the last step. */
const PLAIN_LINES = 20;

export interface TrainProgress {
  readonly onStep: (p: StepProgress) => void;
  /** Ends the bar (a no-op for plain lines); safe to call more than once. */
  stop(): void;
}

function fields(p: StepProgress) {
  return { loss: p.loss.toFixed(4), tps: Math.round(p.tokensPerS), balance: p.balance.map((b) => b.toFixed(2)).join(' ') };
}

/** A progress reporter writing to `stream` (process.stderr by default). */
export function trainProgress(stream: NodeJS.WriteStream = process.stderr): TrainProgress {
  return stream.isTTY ? barProgress(stream) : plainProgress(stream);
}

function barProgress(stream: NodeJS.WriteStream): TrainProgress {
  const bar = new SingleBar({
    format: 'train [{bar}] {value}/{total} | loss {loss} | {tps} tok/s | max/mean {balance}',
    stream,
    hideCursor: true,
  });
  let started = false;
  return {
    onStep: (p) => {
      if (!started) {
        bar.start(p.steps, p.step - 1, fields(p));
        started = true;
      }
      bar.update(p.step, fields(p));
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}

function plainProgress(stream: NodeJS.WriteStream): TrainProgress {
  return {
    onStep: (p) => {
      // Every ceil(steps / PLAIN_LINES)-th step and the last: a bounded log for long runs.
      const every = Math.max(1, Math.ceil(p.steps / PLAIN_LINES));
      if (p.step % every !== 0 && p.step !== p.steps) return;
      const f = fields(p);
      stream.write(`train step ${p.step}/${p.steps} | loss ${f.loss} | ${f.tps} tok/s | max/mean ${f.balance}\n`);
    },
    stop: () => {},
  };
}
