import { setTimeout as sleep } from 'node:timers/promises';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { Fleet } from './fleet.ts';
import type { AddedServerKind } from './fleet-state.ts';
import { discardAddedServer } from './server-provision.ts';
import { slotName } from './supervised-servers.ts';

/** How long the primary's WAL sender may take to let go of a stopped replica's slot. */
const SLOT_RELEASE_WAIT_MS = 10_000;
const POLL_MS = 100;

/** An added server removed. */
export interface RemovedServer {
  readonly server: string;
  readonly kind: AddedServerKind;
  /** The primary whose replication slot for it was dropped, if it was a replica. */
  readonly slotDroppedOn: string | null;
}

/**
 * Checks that `server` can be removed now, changing nothing: not one of the configuration's
 * (`server_not_removable`), one this fleet added (`resource_not_found`), no planned operation
 * in progress (`operation_in_progress`).
 */
export function preflightRemoveServer(fleet: Fleet, server: string): AddedServerKind {
  if (fleet.isConfigured(server))
    throw new MainstayError(
      'server_not_removable',
      `${server} is one of the configuration's servers; only an added replica or spare can be removed`,
    );
  const added = fleet.added[server];
  if (!added) throw new MainstayError('resource_not_found', `no added server ${server} here`);
  const running = fleet.planned.current;
  if (running) throw new MainstayError('operation_in_progress', `${running.name} is in progress`);
  return added.kind;
}

/**
 * `remove-replica`: the inverse of add-replica (and of provision-server). The replica is fenced
 * first (routers stop reading from it at that epoch), then stopped, its slot on the primary
 * dropped (or it would hold WAL back for good), it leaves the catalog, and last its data is
 * deleted and the fleet state forgets it. Safe to run again while the server is still listed.
 */
export async function removeServer(fleet: Fleet, server: string): Promise<RemovedServer> {
  const kind = preflightRemoveServer(fleet, server);
  const end = fleet.planned.begin(`removal of ${server}`, [server]);
  try {
    const snapshot = await fleet.refreshCatalog();
    const row = snapshot?.servers.find((s) => s.id === server);
    if (row && row.fencedAtEpoch === null) {
      await fleet.catalog.commitChange(`remove ${server}: fenced`, {
        servers: [{ id: server, fenced: true }],
      });
      await fleet.refreshCatalog();
    }
    await fleet.server(server)?.stop();
    const upstream = row?.upstream ?? null;
    const dropped = upstream ? await dropSlot(fleet, upstream, server) : false;
    if (row) {
      await fleet.catalog.commitChange(`remove ${server}`, { removed: [server] });
      await fleet.refreshCatalog();
    }
    // Last, so a run cut off before this point finds the server listed and finishes the job.
    await discardAddedServer(fleet, server);
    return { server, kind, slotDroppedOn: dropped ? upstream : null };
  } finally {
    end();
  }
}

/** Drops the replica's physical slot on its upstream once no WAL sender holds it (bounded). */
async function dropSlot(fleet: Fleet, upstream: string, server: string): Promise<boolean> {
  const pool = fleet.pools.pool(upstream);
  const deadline = Date.now() + SLOT_RELEASE_WAIT_MS;
  for (;;) {
    const { rows } = await pool
      .query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [
        slotName(server),
      ])
      .catch(() => ({ rows: [] as { active: boolean }[] }));
    const slot = rows[0];
    if (!slot) return false;
    if (!slot.active) {
      await pool.query('SELECT pg_drop_replication_slot($1)', [slotName(server)]);
      return true;
    }
    if (Date.now() > deadline)
      throw new MainstayError(
        'state_conflict',
        `${upstream} still streams to ${server}'s slot after it stopped; drop slot ${slotName(server)} by hand`,
      );
    await sleep(POLL_MS);
  }
}
