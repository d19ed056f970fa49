import { readFileSync } from 'node:fs';
import path from 'node:path';

/** `DBState` values of `pg_control` (src/include/catalog/pg_control.h). */
const DB_STATES = [
  'starting up',
  'shut down',
  'shut down in recovery',
  'shutting down',
  'in crash recovery',
  'in archive recovery',
  'in production',
] as const;

export type ControlState = (typeof DB_STATES)[number];

/** `PG_CONTROL_VERSION` of the majors whose layout {@link readControlFile} knows. */
const KNOWN_CONTROL_VERSIONS = new Set([1300, 1700]);

/** What a stopped server's control file says about where its WAL ends. */
export interface ControlFacts {
  readonly state: ControlState;
  /** Start of the last checkpoint record: for a clean shutdown, the last record written. */
  readonly checkpointLsn: bigint;
  readonly timeline: number;
}

/**
 * Reads `global/pg_control` of a data directory, as `pg_controldata` would (the embedded
 * package ships no `pg_controldata`). Only the leading fields, whose layout has not changed
 * since PostgreSQL 13, and only for a control version it knows; anything else throws rather
 * than guessing. Little-endian hosts only, as the embedded binaries are.
 */
export function readControlFile(dataDir: string): ControlFacts {
  const bytes = readFileSync(path.join(dataDir, 'global', 'pg_control'));
  if (bytes.length < 56) throw new Error(`${dataDir}: pg_control is too short`);
  const version = bytes.readUInt32LE(8);
  if (!KNOWN_CONTROL_VERSIONS.has(version))
    throw new Error(`${dataDir}: pg_control version ${version} is not one this reader knows`);
  const state = DB_STATES[bytes.readUInt32LE(16)];
  if (!state) throw new Error(`${dataDir}: pg_control holds an unknown state`);
  // ControlFileData: system_identifier 0, version 8, catalog version 12, state 16, time 24,
  // checkPoint 32, then checkPointCopy: redo 40, ThisTimeLineID 48.
  return { state, checkpointLsn: bytes.readBigUInt64LE(32), timeline: bytes.readUInt32LE(48) };
}
