import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseLsn } from '../postgres/lsn.ts';
import type { Fleet } from './fleet.ts';
import { giveTo } from './os-user.ts';
import { readControlFile } from './pg-control.ts';
import { slotName } from './supervised-servers.ts';

const POLL_MS = 100;

/** How a former primary came back as a replica. */
export type RejoinMethod = 'already_streaming' | 'standby' | 'rebuilt';

/**
 * Brings `server` back as a streaming replica of `primary` (the catalog must say so already).
 *
 * The fast way, taken only when it is provably safe: `server` was shut down cleanly (its
 * control file says so, with its last checkpoint at `cleanEnd`, the position checked earlier),
 * and `primary`'s new timeline left the old one past that record, so everything `server` wrote
 * is a prefix of `primary`'s history. Then it is started as a standby of `primary` (which hands
 * it the new timeline's history), with its old replication slots removed (a standby must not
 * hold its former walsenders' slots, nor copies of the logical ones, which the slot
 * synchronisation would refuse to overwrite). Otherwise, or when it does not stream within
 * `waitMs`, it is rebuilt from `primary` with the backup API, as after a failover.
 */
export async function rejoinAsReplica(
  fleet: Fleet,
  options: {
    readonly server: string;
    readonly primary: string;
    readonly cleanEnd: bigint | null;
    readonly waitMs: number;
  },
): Promise<RejoinMethod> {
  const { server, primary, cleanEnd, waitMs } = options;
  if (await streamsFrom(fleet, server, primary)) return 'already_streaming';
  if (cleanEnd !== null && (await canFollow(fleet, server, primary, cleanEnd))) {
    try {
      await startAsStandby(fleet, server, primary);
      if (await waitStreaming(fleet, server, primary, waitMs)) return 'standby';
    } catch {
      // Falls through to the rebuild, which starts from nothing of this directory.
    }
  }
  await fleet.rebuildReplica(server);
  if (!(await waitStreaming(fleet, server, primary, waitMs)))
    throw new Error(`${server} was rebuilt from ${primary} but does not stream from it`);
  return 'rebuilt';
}

/** Whether `primary` sees `server` streaming from it. */
export async function streamsFrom(fleet: Fleet, server: string, primary: string): Promise<boolean> {
  const { rows } = await fleet.pools
    .pool(primary)
    .query(
      `SELECT 1 FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`,
      [server],
    )
    .catch(() => ({ rows: [] }));
  return rows.length > 0;
}

async function waitStreaming(
  fleet: Fleet,
  server: string,
  primary: string,
  waitMs: number,
): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (await streamsFrom(fleet, server, primary)) return true;
    await sleep(POLL_MS);
  }
  return false;
}

/**
 * Whether `server`'s stopped data directory is still the clean end checked before the
 * promotion, and `primary`'s timeline switch lies past that end.
 */
async function canFollow(
  fleet: Fleet,
  server: string,
  primary: string,
  cleanEnd: bigint,
): Promise<boolean> {
  const process = fleet.server(server);
  if (!process || process.state === 'up') return false;
  let control: ReturnType<typeof readControlFile>;
  try {
    control = readControlFile(process.dataDir);
  } catch {
    return false;
  }
  if (control.state !== 'shut down' || control.checkpointLsn !== cleanEnd) return false;
  const { rows } = await fleet.pools.pool(primary).query<{ history: string | null }>(
    `SELECT pg_read_file('pg_wal/' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)
                         || '.history', true) AS history`,
  );
  const last = (rows[0]?.history ?? '')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 2 && !fields[0]?.startsWith('#'))
    .at(-1);
  const switchLsn = last?.[1] ? parseLsn(last[1]) : null;
  return (
    switchLsn !== null &&
    Number(last?.[0]) === control.timeline &&
    switchLsn > control.checkpointLsn
  );
}

async function startAsStandby(fleet: Fleet, server: string, primary: string): Promise<void> {
  const process = fleet.server(server);
  const identity = fleet.runtime?.identity;
  if (!process || !identity) throw new Error(`${server} is not run by Mainstay here`);
  const slots = path.join(process.dataDir, 'pg_replslot');
  for (const slot of readdirSync(slots)) rmSync(path.join(slots, slot), { recursive: true });
  const signal = path.join(process.dataDir, 'standby.signal');
  writeFileSync(signal, '');
  giveTo(signal, identity);
  await fleet.pools.pool(primary).query(
    `SELECT pg_create_physical_replication_slot($1, true)
       WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
    [slotName(server)],
  );
  await fleet.startServer(server);
}
