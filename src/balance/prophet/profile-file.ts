/**
 * A calibrated {@link HardwareProfile} on disk: the JSON of `saveProfile` / `loadProfile`
 * (validated on both sides), so a run can calibrate once and later runs load the file instead
 * of measuring again. The only file I/O of the planner; the model stays pure.
 */
import { readFile, writeFile } from 'node:fs/promises';

import { invalidType } from '../../errors.js';
import { loadProfile, saveProfile, type HardwareProfile } from './perfmodel.js';

/** Writes `profile` (validated first) as JSON to `path`, replacing the file. */
export async function saveProfileFile(path: string, profile: HardwareProfile): Promise<void> {
  if (typeof path !== 'string' || path === '') throw invalidType('path', 'non-empty string', path);
  await writeFile(path, `${saveProfile(profile)}\n`, 'utf8');
}

/** Reads and validates a profile saved by {@link saveProfileFile}; errors name the bad field. */
export async function loadProfileFile(path: string): Promise<HardwareProfile> {
  if (typeof path !== 'string' || path === '') throw invalidType('path', 'non-empty string', path);
  return loadProfile(await readFile(path, 'utf8'));
}
