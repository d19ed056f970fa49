import { primaryOf } from '../../catalog/primary-of.ts';
import { isMainstayError, MainstayError } from '../../errors/mainstay-error.ts';
import type { MigrationSet } from '../../migrations/migration.ts';
import { readMigrationText } from '../../migrations/migration-files.ts';
import type { Queryable, Router } from '../router.ts';

/** Schema holding the pre-created takeover tables; never published, so never replicated. */
export const TAKEOVER_SCHEMA = 'mainstay_takeover';
export const MERGE_BATCH_SIZE_MAX = 500;
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The takeover table's migration, frozen in `sql/` with `{table}` where the table's name goes:
 * the schema is named in the file, not from {@link TAKEOVER_SCHEMA}, so that no edit of the code
 * can change what existing fleets applied.
 */
const TAKEOVER_TABLE_SQL = readMigrationText(new URL('./sql/takeover-table.sql', import.meta.url));

/**
 * Migrations that pre-create, in every shard database, a takeover table shaped like each
 * append-only table (same columns, defaults, constraints and primary key `id`). Apply after the
 * tables' own migrations. One migration per table, so adding a table later appends a version.
 */
export function takeoverMigrations(tables: readonly string[]): MigrationSet {
  return {
    name: 'takeover',
    migrations: tables.map((table, index) => {
      checkIdentifier(table);
      return {
        version: index + 1,
        name: `takeover-${table}`,
        sql: TAKEOVER_TABLE_SQL.replaceAll('{table}', table),
      };
    }),
  };
}

export interface AppendResult {
  /** `true` when the row went to the takeover table in the other DC. */
  readonly diverted: boolean;
  readonly shardId: number;
  readonly servedBy: string;
}

/**
 * Stateless redundancy (the seed's 无状态冗余) for append-only tables (journals, logs): their
 * writes need no existing data, so when a shard's home primary fails they divert at once (no
 * wait for promotion) to a takeover table pre-created in the other DC, and a merge-back moves
 * them home later. Rows carry a client-chosen primary key `id`, so a row that reached both
 * places (an append whose home outcome was unknown) lands home once.
 */
export class TakeoverWriter {
  readonly #router: Router;
  readonly #tables: ReadonlySet<string>;
  divertedCount = 0;

  constructor(router: Router, tables: readonly string[]) {
    for (const table of tables) checkIdentifier(table);
    this.#router = router;
    this.#tables = new Set(tables);
  }

  /** Appends `row` (which must have an `id`) to `table` on the key's shard, diverting if needed. */
  async append(
    key: unknown,
    table: string,
    row: Readonly<Record<string, unknown>>,
  ): Promise<AppendResult> {
    if (!this.#tables.has(table)) {
      throw new MainstayError(
        'invalid_request',
        `table "${table}" is not declared append-only for takeover`,
      );
    }
    const columns = Object.keys(row);
    if (!columns.includes('id'))
      throw new MainstayError('invalid_request', 'an appended row needs an "id"');
    for (const column of columns) checkIdentifier(column);
    const insert = (schema: string) => (db: Queryable) =>
      db.query(
        `INSERT INTO ${schema}.${table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})
         ON CONFLICT (id) DO NOTHING`,
        columns.map((column) => row[column]),
      );
    const shardId = this.#router.map.shardOf(key);
    const route = this.#router.map.route(shardId);
    const primaryHealthy = route.primary
      ? this.#router.monitor.observe(route.primary.id).healthy
      : false;
    if (primaryHealthy && route.primary) {
      try {
        await this.#router.write(key, insert('public'), { waitMs: 0 });
        return { diverted: false, shardId, servedBy: route.primary.id };
      } catch (error) {
        if (
          !isMainstayError(error, 'primary_unavailable') &&
          !isMainstayError(error, 'write_outcome_unknown')
        )
          throw error;
      }
    }
    const target = primaryOf(this.#router.map.snapshot, route.shard.copyDc);
    if (!target)
      throw new MainstayError(
        'primary_unavailable',
        `shard ${shardId}: neither its home nor its copy DC has a primary`,
      );
    await this.#router.queryServer(target, route.shard.database, insert(TAKEOVER_SCHEMA));
    this.divertedCount += 1;
    this.#router.stats.writesDiverted += 1;
    return { diverted: true, shardId, servedBy: target };
  }

  /**
   * Moves diverted rows home, in batches: insert at home (idempotent by id), then delete from
   * the takeover table. A crash between the two only repeats no-op inserts. Shards whose home
   * has no primary yet are left for a later call. Returns how many rows moved.
   */
  async mergeBack(): Promise<number> {
    let moved = 0;
    const map = this.#router.map;
    for (const shardId of map.shardIds) {
      const route = map.route(shardId);
      const holder = primaryOf(map.snapshot, route.shard.copyDc);
      if (!route.primary || !holder) continue;
      for (const table of this.#tables) {
        for (;;) {
          const rows = await this.#router.queryServer(
            holder,
            route.shard.database,
            async (db) =>
              (
                await db.query(
                  `SELECT * FROM ${TAKEOVER_SCHEMA}.${table} ORDER BY id LIMIT ${MERGE_BATCH_SIZE_MAX}`,
                )
              ).rows,
          );
          if (rows.length === 0) break;
          await this.#router.writeToShard(shardId, (tx) =>
            tx.query(
              `INSERT INTO public.${table} SELECT * FROM json_populate_recordset(NULL::public.${table}, $1) ON CONFLICT (id) DO NOTHING`,
              [JSON.stringify(rows)],
            ),
          );
          await this.#router.queryServer(holder, route.shard.database, (db) =>
            db.query(`DELETE FROM ${TAKEOVER_SCHEMA}.${table} WHERE id = ANY($1)`, [
              rows.map((row) => row.id),
            ]),
          );
          moved += rows.length;
        }
      }
    }
    return moved;
  }
}

function checkIdentifier(name: string): void {
  if (!IDENTIFIER.test(name))
    throw new MainstayError(
      'invalid_request',
      `"${name}" is not a plain lower-case SQL identifier`,
    );
}
