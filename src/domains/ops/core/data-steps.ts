/**
 * The ops modules that compare and repair data (decision 53 below them): a shard's table at its
 * home primary against the other DC's logical copy, or against the home's streaming replica.
 * The comparison waits for the target to catch up before it reads again what it found
 * different, so writes in flight are not reported.
 */
import { type Static, Type } from '@sinclair/typebox';
import type pg from 'pg';
import type { CatalogSnapshot } from '../../../catalog/catalog-store.ts';
import { compareTable, type TableDifferences } from '../../../compare/table-compare.ts';
import { repairTable } from '../../../compare/table-repair.ts';
import type { RowKey } from '../../../compare/table-shape.ts';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import type { Fleet } from '../../../fleet/fleet.ts';
import { waitForCopyToApply } from '../../../fleet/shard-replication.ts';
import type { StepContext, StepModule } from '../../../workflow/workflow-types.ts';
import { OPS_APPROVER_ROLES } from './ops-roles.ts';

/** How long a comparison waits for the target to apply what the source wrote. */
const SETTLE_TIMEOUT_MS = 30_000;
/** Keys of each kind a step's output lists at most (the counts are always whole). */
const LISTED_KEYS_MAX = 100;

export const TableTarget = Type.Object(
  {
    shard: Type.Integer({ minimum: 0, maximum: 4095 }),
    table: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]*$' }),
    against: Type.Optional(
      Type.Union([Type.Literal('copy'), Type.Literal('replica')], {
        description: "The other DC's logical copy (the default) or the home's streaming replica.",
      }),
    ),
  },
  { additionalProperties: false },
);
export type TableTarget = Static<typeof TableTarget>;

/** What a comparison step keeps: the counts, and the first keys of each kind. */
export interface ComparisonOutput {
  readonly shard: number;
  readonly table: string;
  readonly against: 'copy' | 'replica';
  readonly missingCount: number;
  readonly extraCount: number;
  readonly differentCount: number;
  readonly missing: readonly RowKey[];
  readonly extra: readonly RowKey[];
  readonly different: readonly RowKey[];
  readonly chunks: number;
  readonly chunksDiffering: number;
  readonly rowsRead: number;
}

/** The two sides of a comparison, as the catalog names them now. */
export async function sidesOf(fleet: Fleet, target: TableTarget) {
  const catalog = await fleet.catalog.load();
  const shard = catalog?.shards.find((candidate) => candidate.id === target.shard);
  if (!catalog || !shard) throw new MainstayError('resource_not_found', `no shard ${target.shard}`);
  const source = await fleet.shardPool(target.shard, 'home');
  if (target.against !== 'replica') {
    return {
      source,
      target: await fleet.shardPool(target.shard, 'copy'),
      database: shard.database,
    };
  }
  const replica = homeReplicaOf(catalog, shard.homeDc);
  return { source, target: fleet.pools.pool(replica, shard.database), database: shard.database };
}

function homeReplicaOf(catalog: CatalogSnapshot, dc: string): string {
  const primary = catalog.servers.find(
    (s) => s.dc === dc && s.role === 'primary' && s.fencedAtEpoch === null,
  );
  const replica = catalog.servers.find(
    (s) => s.role === 'replica' && s.upstream === primary?.id && s.fencedAtEpoch === null,
  );
  if (!replica)
    throw new MainstayError('preflight_refused', `${dc} has no replica streaming from its primary`);
  return replica.id;
}

/** Waits until the target replayed what the source had written when called. */
async function settle(source: pg.Pool, target: pg.Pool, database: string, against: string) {
  if (against === 'copy') {
    await waitForCopyToApply(source, target, database, SETTLE_TIMEOUT_MS);
    return;
  }
  const { rows } = await source.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const replayed = await target.query<{ ok: boolean }>(
      'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok',
      [rows[0]?.lsn],
    );
    if (replayed.rows[0]?.ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function compareShardTable(
  fleet: Fleet,
  input: TableTarget,
  context: StepContext,
): Promise<{ differences: TableDifferences; output: ComparisonOutput }> {
  const sides = await sidesOf(fleet, input);
  const differences = await compareTable(sides.source, sides.target, input.table, {
    settle: () => settle(sides.source, sides.target, sides.database, input.against ?? 'copy'),
    signal: context.signal,
    onProgress: (progress) =>
      context.progress(
        progress.chunksDone,
        progress.chunksTotal,
        `chunks of ${input.table} compared, ${progress.differences} difference(s) so far`,
      ),
  });
  return { differences, output: outputOf(input, differences) };
}

function outputOf(input: TableTarget, found: TableDifferences): ComparisonOutput {
  return {
    shard: input.shard,
    table: input.table,
    against: input.against ?? 'copy',
    missingCount: found.missing.length,
    extraCount: found.extra.length,
    differentCount: found.different.length,
    missing: found.missing.slice(0, LISTED_KEYS_MAX),
    extra: found.extra.slice(0, LISTED_KEYS_MAX),
    different: found.different.slice(0, LISTED_KEYS_MAX),
    chunks: found.chunks,
    chunksDiffering: found.chunksDiffering,
    rowsRead: found.rowsRead,
  };
}

function total(output: ComparisonOutput): number {
  return output.missingCount + output.extraCount + output.differentCount;
}

/**
 * `compare-table`: finds the missing, extra and different rows of a table. It reports; it
 * fails only when asked to expect equality (`expectEqual`), as a drill's check does.
 */
export function compareModule(
  fleet: Fleet,
): StepModule<TableTarget & { expectEqual?: boolean }, ComparisonOutput> {
  return {
    name: 'compare-table',
    summary:
      "Compares a shard's table between its home and the other DC's copy (or its replica), chunk hashes inside PostgreSQL",
    inputSchema: Type.Composite(
      [TableTarget, Type.Object({ expectEqual: Type.Optional(Type.Boolean()) })],
      { additionalProperties: false },
    ),
    attemptsMax: 2,
    async execute(input, context) {
      const { output } = await compareShardTable(fleet, input, context);
      await context.log(
        `${input.table} on shard ${input.shard} against its ${input.against ?? 'copy'}: ${output.missingCount} missing, ${output.extraCount} extra, ${output.differentCount} different`,
      );
      return output;
    },
    async verify(input, output) {
      if (input.expectEqual && total(output) > 0) {
        throw new MainstayError(
          'state_conflict',
          `${input.table} on shard ${input.shard} differs from its ${input.against ?? 'copy'} in ${total(output)} row(s)`,
        );
      }
    },
  };
}

/**
 * `repair-table`: makes the target (the copy) equal the source for the rows a fresh comparison
 * finds different, then compares again: the verify fails unless nothing differs. Only a copy is
 * repaired: a streaming replica is read-only and is rebuilt instead.
 */
export function repairModule(
  fleet: Fleet,
): StepModule<TableTarget, { written: number; deleted: number; found: number }> {
  return {
    name: 'repair-table',
    summary: "Makes the other DC's copy of a table equal its home, then compares again",
    inputSchema: TableTarget,
    attemptsMax: 3,
    approverRoles: OPS_APPROVER_ROLES,
    async preflight(input) {
      if (input.against === 'replica') {
        throw new MainstayError(
          'invalid_request',
          'only a logical copy is repaired; a replica is rebuilt (rebuild-replica)',
        );
      }
    },
    async execute(input, context) {
      const { differences } = await compareShardTable(fleet, input, context);
      const sides = await sidesOf(fleet, input);
      const repaired = await repairTable(sides.source, sides.target, input.table, differences, {
        asReplica: true,
      });
      await context.log(
        `repaired ${input.table} on shard ${input.shard}: ${repaired.written} row(s) written, ${repaired.deleted} deleted`,
      );
      return {
        ...repaired,
        found: differences.missing.length + differences.extra.length + differences.different.length,
      };
    },
    async verify(input, _output, context) {
      const { output } = await compareShardTable(fleet, input, context);
      if (total(output) > 0) {
        throw new MainstayError(
          'state_conflict',
          `${input.table} on shard ${input.shard} still differs in ${total(output)} row(s) after the repair`,
        );
      }
    },
  };
}
