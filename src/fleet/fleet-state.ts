import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * What a fleet must remember between runs, kept in `MAINSTAY_HOME/fleet.json` (mode 0600: it
 * holds the superuser password). Ports picked at first provision are reused on every restart.
 */
export interface FleetState {
  readonly formatVersion: 1;
  readonly postgresMajor: number;
  readonly password: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly createdAt: string;
  /** Set once every server, database, publication and subscription exists. */
  readonly provisionedAt: string | null;
  /**
   * Servers added beyond the configuration's (by `provision-server` and `add-replica`), by id;
   * absent in a fleet that never had one. Their ports are in `ports` like the others'.
   */
  readonly added?: Readonly<Record<string, AddedServer>>;
}

/** What a server added beyond the configuration is: a started spare, or a read replica. */
export const ADDED_SERVER_KINDS = ['spare', 'replica'] as const;
export type AddedServerKind = (typeof ADDED_SERVER_KINDS)[number];

/** A server added beyond the configuration, as the fleet state remembers it. */
export interface AddedServer {
  readonly dc: string;
  readonly kind: AddedServerKind;
}

export const STATE_FILE = 'fleet.json';

export function readFleetState(home: string): FleetState | null {
  const file = path.join(home, STATE_FILE);
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as FleetState;
}

/** Writes atomically (temp file, then rename) so a crash never leaves half a state file. */
export function writeFleetState(home: string, state: FleetState): void {
  const file = path.join(home, STATE_FILE);
  const temp = `${file}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, file);
}

export function newFleetState(postgresMajor: number, ports: Record<string, number>): FleetState {
  return {
    formatVersion: 1,
    postgresMajor,
    password: randomBytes(24).toString('base64url'),
    ports,
    createdAt: new Date().toISOString(),
    provisionedAt: null,
  };
}
