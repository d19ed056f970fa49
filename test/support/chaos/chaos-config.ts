/**
 * The config file a fault run starts its fleet with, per mode: the default configuration
 * (synchronous within each DC), or each DC in the asynchronous mode, which may lose
 * acknowledged writes on a failover and must then say so in its events.
 */

import { SYNCHRONOUS_COMMIT_LEVELS } from '../../../src/config/topology-config.ts';
import { CardsConfigSchema } from '../../../src/domains/cards/config/cards-config.ts';

/**
 * The stand-in exposure cap per account the runs configure: a third of the accounts' credit
 * limit, well below the built-in default, so that a bound that does not hold shows in a short
 * run.
 */
export const STAND_IN_CAP_PER_ACCOUNT = 10_000;

export const CHAOS_MODES = ['sync', 'async'] as const;
export type ChaosMode = (typeof CHAOS_MODES)[number];

export interface ChaosConfig {
  readonly mode: ChaosMode;
  /** Written as the fleet's `mainstay.config.json`. */
  readonly file: Record<string, unknown>;
  /** The stand-in exposure cap per account the file sets, or null while there is none. */
  readonly standInCapPerAccount: number | null;
}

/**
 * The asynchronous level's name: the one named for what it risks where this checkout has it,
 * PostgreSQL's `local` before.
 */
export function asynchronousLevel(): string {
  return SYNCHRONOUS_COMMIT_LEVELS.find((level) => level.startsWith('async')) ?? 'local';
}

export function chaosConfig(mode: ChaosMode): ChaosConfig {
  const file: Record<string, unknown> = {};
  if (mode === 'async') {
    const level = asynchronousLevel();
    file.dataCentres = [
      { id: 'dc1', synchronousCommit: level },
      { id: 'dc2', synchronousCommit: level },
    ];
  }
  if (!hasAccountExposureCap()) return { mode, file, standInCapPerAccount: null };
  file.cards = { standIn: { limits: { accountExposureMax: STAND_IN_CAP_PER_ACCOUNT } } };
  return { mode, file, standInCapPerAccount: STAND_IN_CAP_PER_ACCOUNT };
}

/** Whether this checkout's config has the per-account stand-in exposure cap. */
function hasAccountExposureCap(): boolean {
  return 'accountExposureMax' in CardsConfigSchema.properties.standIn.properties.limits.properties;
}
