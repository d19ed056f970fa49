import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MainstayConfig, ServerSpec } from '../config/load-config.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { type FleetState, newFleetState, readFleetState, writeFleetState } from './fleet-state.ts';
import { ensureTraversable, giveTo, type OsIdentity, postgresIdentity } from './os-user.ts';
import { pickFreePorts } from './ports.ts';
import { type PostgresBinaries, resolvePostgresBinaries } from './postgres-binaries.ts';
import { reachablePostgresBinaries } from './reachable-binaries.ts';
import { passFilePath, SUPERUSER } from './server-files.ts';

/** A managed fleet's home, ready for its servers to be made. */
export interface PreparedHome {
  readonly identity: OsIdentity;
  readonly binaries: PostgresBinaries;
  readonly state: FleetState;
  /** `true` when the fleet has never been provisioned here (or its provisioning did not finish). */
  readonly fresh: boolean;
}

/**
 * Readies the home of a fleet Mainstay runs itself: finds PostgreSQL binaries the server's OS
 * user can reach, refuses binaries of another major version than the fleet was made with,
 * starts a new fleet state (password, ports) when none was provisioned, and writes the
 * password file the servers use to reach each other.
 */
export async function prepareManagedHome(
  config: MainstayConfig,
  specs: readonly ServerSpec[],
  progress: (step: string) => void,
): Promise<PreparedHome> {
  const home = config.home;
  progress('locating PostgreSQL binaries');
  const identity = await postgresIdentity();
  ensureTraversable(home, identity);
  const reach = await reachablePostgresBinaries(
    await resolvePostgresBinaries(config.postgres.binDir),
    identity,
    home,
  );
  if (reach.linkedBecause !== null) {
    progress(`linked the PostgreSQL binaries into ${home}: ${reach.linkedBecause}`);
  }
  const binaries = reach.binaries;
  let state = readFleetState(home);
  if (state && state.postgresMajor !== binaries.majorVersion) {
    throw new MainstayError(
      'postgres_version_mismatch',
      `the fleet in ${home} was created with PostgreSQL ${state.postgresMajor}, but the binaries ` +
        `in ${binaries.binDir} are PostgreSQL ${binaries.majorVersion}`,
    );
  }
  const fresh = state?.provisionedAt == null;
  if (!state || fresh) {
    rmSync(path.join(home, 'servers'), { recursive: true, force: true });
    state = newFleetState(binaries.majorVersion, await allocatePorts(specs));
    writeFleetState(home, state);
  }
  mkdirSync(path.join(home, 'servers'), { recursive: true, mode: 0o755 });
  mkdirSync(path.join(home, 'logs'), { recursive: true });
  writePassFile(home, state.password, identity);
  return { identity, binaries, state, fresh };
}

/** A port per server: the one its spec fixes, else a free one. */
async function allocatePorts(specs: readonly ServerSpec[]): Promise<Record<string, number>> {
  const fixed = specs.flatMap((spec) => (spec.port === null ? [] : [spec.port]));
  const free = await pickFreePorts(specs.length - fixed.length, new Set(fixed));
  const ports: Record<string, number> = {};
  for (const spec of specs) {
    const port = spec.port ?? free.shift();
    if (port === undefined) throw new Error(`no free port for server ${spec.id}`);
    ports[spec.id] = port;
  }
  return ports;
}

function writePassFile(home: string, password: string, identity: OsIdentity): void {
  const file = passFilePath(home);
  writeFileSync(file, `*:*:*:${SUPERUSER}:${password}\n`, { mode: 0o600 });
  giveTo(file, identity);
}
