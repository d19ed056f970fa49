import { rmSync } from 'node:fs';
import path from 'node:path';
import { MainstayError } from '../errors/mainstay-error.ts';
import { nextAddedId, requireDataCentre } from './added-servers.ts';
import type { Fleet } from './fleet.ts';
import { pickFreePorts } from './ports.ts';
import { initDataDir, SUPERUSER, serverDataDir } from './server-files.ts';

/** A server provisioned as a spare: initialised, started and checked, with no traffic. */
export interface ProvisionedServer {
  readonly server: string;
  readonly dc: string;
  readonly port: number;
  /** `server_version` as the new server reports it. */
  readonly version: string;
}

/**
 * Checks that a server can be provisioned in `dc` now, changing nothing: a fleet Mainstay runs
 * (binaries and OS user located), a known DC (`data_centre_unknown`), room under the bound of
 * added servers (`state_conflict`).
 */
export function preflightProvision(fleet: Fleet, dc: string): void {
  if (fleet.isExternal || !fleet.runtime)
    throw new MainstayError(
      'state_conflict',
      'the servers are external or not up: Mainstay provisions only servers it runs',
    );
  requireDataCentre(fleet.config, dc);
  nextAddedId(dc, fleet.added, fleet.catalogSnapshot?.servers.map((s) => s.id) ?? []);
}

/**
 * `provision-server`: a new PostgreSQL server in `dc`, made like the fleet's own (initdb with
 * the fleet's superuser and password, its settings, run as its OS user, a free port of its
 * range), started and checked, and recorded in the fleet state as a spare so `down` and `up`
 * stop and start it. The catalog does not know a spare: it gets no traffic until `add-replica`
 * takes it. One planned operation, like the others.
 */
export async function provisionServer(fleet: Fleet, dc: string): Promise<ProvisionedServer> {
  preflightProvision(fleet, dc);
  const end = fleet.planned.begin(`provision of a server in ${dc}`, []);
  try {
    return await provisionSpare(fleet, dc);
  } finally {
    end();
  }
}

/** The work of {@link provisionServer}, inside a planned operation the caller holds. */
export async function provisionSpare(fleet: Fleet, dc: string): Promise<ProvisionedServer> {
  const runtime = fleet.runtime;
  if (!runtime) throw new MainstayError('state_conflict', 'the fleet is not up');
  const snapshot = await fleet.refreshCatalog();
  const id = nextAddedId(dc, fleet.added, snapshot?.servers.map((s) => s.id) ?? []);
  const taken = new Set(fleet.specs.map((spec) => fleet.connection(spec.id).port));
  const [port] = await pickFreePorts(1, taken);
  if (port === undefined) throw new Error('no free port for a new server');
  const dataDir = serverDataDir(fleet.config.home, id);
  // Left by a provisioning that died before it was recorded: nothing else knows it.
  rmSync(path.dirname(dataDir), { recursive: true, force: true });
  fleet.recordAdded(id, { dc, kind: 'spare' }, port);
  try {
    const password = fleet.connection(fleet.config.witness.id).password;
    await initDataDir({ dataDir, password, ...runtime });
    await fleet.startServer(id);
    return { server: id, dc, port, version: await checkServer(fleet, id, port) };
  } catch (error) {
    await discardAddedServer(fleet, id).catch(() => undefined);
    throw error;
  }
}

/** Checks a new server answers as the Mainstay superuser, on its port, writable; its version. */
async function checkServer(fleet: Fleet, id: string, port: number): Promise<string> {
  const { rows } = await fleet.pools.pool(id).query<{
    who: string;
    recovery: boolean;
    port: string;
    version: string;
  }>(
    `SELECT current_user AS who, pg_is_in_recovery() AS recovery,
            current_setting('port') AS port, current_setting('server_version') AS version`,
  );
  const row = rows[0];
  if (row?.who !== SUPERUSER || row.recovery || Number(row.port) !== port)
    throw new MainstayError(
      'server_start_failed',
      `${id} started but does not answer as expected: ${JSON.stringify(row ?? null)}`,
    );
  return row.version;
}

/**
 * Deletes a server added beyond the configuration: stopped, its pools closed, its directory
 * deleted, forgotten by the fleet state. The caller has taken it out of the catalog first.
 */
export async function discardAddedServer(fleet: Fleet, id: string): Promise<void> {
  if (fleet.isConfigured(id))
    throw new MainstayError('server_not_removable', `${id} is configured`);
  await fleet.server(id)?.stop();
  await fleet.pools.closeServer(id);
  rmSync(path.dirname(serverDataDir(fleet.config.home, id)), { recursive: true, force: true });
  fleet.recordAdded(id, null);
}
