import pg from 'pg';
import { primaryOf } from '../catalog/primary-of.ts';
import { compareTable } from '../compare/table-compare.ts';
import { DC_SWITCHOVER, type DcSwitchoverPlan } from './dc-switchover-preflight.ts';
import { databaseFenced } from './dc-switchover-shard.ts';
import type { Fleet } from './fleet.ts';
import { waitForCopyToApply } from './shard-replication.ts';
import { messageOf } from './switchover-preflight.ts';

/** A table of a shard compared between its home and its copy. */
export interface TableCheck {
  readonly table: string;
  /** Rows missing on the copy, extra on it, and different, together. */
  readonly differences: number;
}

/** What a comparison of every table of a shard found. */
export interface ShardCopyCheck {
  readonly tables: readonly TableCheck[];
  /** Tables without a primary key, which rows cannot be matched by: not compared. */
  readonly unkeyed: readonly string[];
}

/** One moved shard as verification found it. */
export interface MovedShardCheck extends ShardCopyCheck {
  readonly id: number;
  /** A transaction on a new session of the new home committed a write. */
  readonly writable: boolean;
  /** The new copy applied what the new home had written, within the bound. */
  readonly applied: boolean;
}

/** What a data-centre switchover's verification found; `ok` when `problems` is empty. */
export interface DcSwitchoverVerification {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly shards: readonly MovedShardCheck[];
}

/**
 * Checks the fleet after a data-centre switchover of `plan`: the catalog homes each shard in
 * `to`, copied to `from` and replicating, with both primaries unfenced; each new home takes a
 * write in its shard database on a new session (no fence left); each old home's database is
 * no longer fenced; each new copy applies what its home wrote; and every table with a primary
 * key is equal on both sides (decision 53's comparison, waiting for the copy before it reads a
 * difference again). Waits (bounded) for what settles; never throws for a failed check.
 */
export async function verifyDcSwitchover(
  fleet: Fleet,
  plan: DcSwitchoverPlan,
): Promise<DcSwitchoverVerification> {
  const problems: string[] = [];
  const snapshot = await fleet.refreshCatalog();
  if (!snapshot || primaryOf(snapshot, plan.to) !== plan.toServer)
    problems.push(`the catalog does not name ${plan.toServer} primary of ${plan.to}`);
  if (!snapshot || primaryOf(snapshot, plan.from) !== plan.fromServer)
    problems.push(
      `the catalog does not name ${plan.fromServer} an unfenced primary of ${plan.from}`,
    );
  const shards: MovedShardCheck[] = [];
  for (const id of plan.shards) {
    const shard = snapshot?.shards.find((candidate) => candidate.id === id);
    if (!shard) {
      problems.push(`shard ${id} is not in the catalog`);
      continue;
    }
    if (shard.homeDc !== plan.to || shard.copyDc !== plan.from || shard.copyState !== 'replicating')
      problems.push(
        `shard ${id} is homed in ${shard.homeDc}, copied to ${shard.copyDc} (${shard.copyState})`,
      );
    const checked = await checkMovedShard(fleet, plan, id, shard.database, problems);
    shards.push(checked);
  }
  return { ok: problems.length === 0, problems, shards };
}

async function checkMovedShard(
  fleet: Fleet,
  plan: DcSwitchoverPlan,
  id: number,
  database: string,
  problems: string[],
): Promise<MovedShardCheck> {
  const writable = await writeOnNewSession(fleet, plan.toServer, database).then(
    () => true,
    (error: unknown) => {
      problems.push(`shard ${id} on ${plan.toServer} takes no write: ${messageOf(error)}`);
      return false;
    },
  );
  if (!(await databaseFenced(fleet, plan.fromServer, database)))
    problems.push(
      `${database} on ${plan.fromServer}, now a copy, takes client writes (its read-only default is not set)`,
    );
  const home = fleet.pools.pool(plan.toServer, database);
  const copy = fleet.pools.pool(plan.fromServer, database);
  const applied = await waitForCopyToApply(home, copy, database, DC_SWITCHOVER.verifyWaitMs).catch(
    () => false,
  );
  if (!applied) problems.push(`the new copy of shard ${id} on ${plan.fromServer} does not apply`);
  const compared = await compareShardCopy(home, copy, database).catch((error: unknown) => {
    problems.push(`shard ${id} could not be compared: ${messageOf(error)}`);
    return { tables: [], unkeyed: [] };
  });
  for (const table of compared.tables) {
    if (table.differences > 0)
      problems.push(`${table.table} of shard ${id} differs in ${table.differences} row(s)`);
  }
  return { id, writable, applied, ...compared };
}

/**
 * A write committed in `database` on a session of its own, started as a router's is (a plain
 * `BEGIN`, so a database still defaulting to read-only refuses it): a transactional WAL
 * message, which no copy applies.
 */
async function writeOnNewSession(fleet: Fleet, server: string, database: string): Promise<void> {
  const client = new pg.Client({ ...fleet.connection(server), database });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(
      `BEGIN; SELECT pg_logical_emit_message(true, 'mainstay', 'dc-switchover'); COMMIT`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Compares every table of schema `public` with a primary key between a shard's home and its
 * copy, waiting for the copy to apply what the home wrote before a difference is read again.
 */
export async function compareShardCopy(
  home: pg.Pool,
  copy: pg.Pool,
  database: string,
): Promise<ShardCopyCheck> {
  const { rows } = await home.query<{ name: string; keyed: boolean }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name,
            EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') AS keyed
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      ORDER BY 1`,
  );
  const tables: TableCheck[] = [];
  for (const row of rows.filter((candidate) => candidate.keyed)) {
    const found = await compareTable(home, copy, row.name, {
      settle: async () => {
        await waitForCopyToApply(home, copy, database, DC_SWITCHOVER.verifyWaitMs);
      },
    });
    const differences = found.missing.length + found.extra.length + found.different.length;
    tables.push({ table: row.name, differences });
  }
  return { tables, unkeyed: rows.filter((row) => !row.keyed).map((row) => row.name) };
}
