/**
 * Predictors of the next iteration's counts from a layer's history (Pro-Prophet's locality:
 * "next ≈ last"). One code path: an exponential moving average whose weight on the newest
 * iteration is `weight`; the last-value predictor is `weight = 1`.
 */
import { checkChoice, checkNumber, invalidType, invalidValue } from '../../errors.js';
import { validateCountMatrix, type CountMatrix } from './stats.js';

/** `{ kind: 'last' }` or `{ kind: 'ema', weight }` with weight in (0, 1] on the newest sample. */
export type Predictor = { readonly kind: 'last' } | { readonly kind: 'ema'; readonly weight: number };

/**
 * Predicted counts `[numRanks][numExperts]` for the next iteration from `history` (one layer,
 * oldest first): `m = x_0`, then `m = weight·x_t + (1 − weight)·m`. The result is a Float64Array
 * matrix (an EMA is fractional); 'last' returns a copy of the newest entry. Example: history
 * [[2]], [[4]] with weight 0.5 predicts [[3]].
 */
export function predict(history: ReadonlyArray<CountMatrix>, predictor: Predictor = { kind: 'last' }): CountMatrix {
  if (!Array.isArray(history)) throw invalidType('history', 'array of CountMatrix', history);
  if (history.length === 0) throw invalidValue('history', 'at least one iteration', history);
  if (predictor === null || typeof predictor !== 'object') throw invalidType('predictor', 'Predictor', predictor);
  const kind = checkChoice('predictor.kind', predictor.kind, ['last', 'ema']);
  const weight = kind === 'last' ? 1 : checkNumber('predictor.weight', (predictor as { weight?: unknown }).weight, 0, 1);
  if (weight === 0) throw invalidValue('predictor.weight', 'finite number in (0, 1]', weight);
  const first = validateCountMatrix(history[0] as CountMatrix, 'history[0]');
  const start = weight === 1 ? history.length - 1 : 0;
  const mean = new Float64Array(first.data.length);
  history.slice(start).forEach((counts, i) => {
    validateCountMatrix(counts, `history[${start + i}]`);
    if (counts.numRanks !== first.numRanks || counts.numExperts !== first.numExperts) {
      throw invalidValue(`history[${start + i}]`, `shape [${first.numRanks}][${first.numExperts}]`, `[${counts.numRanks}][${counts.numExperts}]`);
    }
    const w = i === 0 ? 1 : weight;
    for (let j = 0; j < mean.length; j++) mean[j] = w * (counts.data[j] ?? 0) + (1 - w) * (mean[j] ?? 0);
  });
  return { numRanks: first.numRanks, numExperts: first.numExperts, data: mean };
}
