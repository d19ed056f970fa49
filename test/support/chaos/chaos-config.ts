/**
 * The config file a fault run starts its fleet with, per mode: the default configuration
 * (synchronous within each DC), or each DC in the asynchronous mode, which may lose
 * acknowledged writes on a failover and must then say so in its events.
 */
import { SYNCHRONOUS_COMMIT_LEVELS } from '../../../src/config/topology-config.ts';

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
  return { mode, file, standInCapPerAccount: null };
}
