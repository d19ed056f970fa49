/**
 * An existing fleet upgrades in place (docs/ARCHITECTURE.md, decision 10). A fleet is provisioned
 * with the previous release's migrations (every released file but those this release added),
 * written to through the API, then started on the new code: the migrator applies only the new
 * migrations, on every shard database of both DCs and on the catalog (a module's catalog tables,
 * `catalogMigrations`), every row is kept, the card API works on the old rows, and
 * `card_authorize_batch` is gone. Real fleet, real HTTP server.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { loadConfig, type MainstayConfig } from '../src/config/load-config.ts';
import { DEMO_MIGRATIONS } from '../src/demo/demo-data.ts';
import { type MigrationSet, migrate } from '../src/migrations/migration.ts';
import { CONFIG_SECTIONS, MODULES } from '../src/modules.ts';
import type { DomainModule } from '../src/platform/domain-module.ts';
import { type Platform, startPlatform } from '../src/platform/platform.ts';
import { guardedPool } from '../src/postgres/guarded-pool.ts';
import { authHeaders } from './support/demo-credentials.ts';
import { removeHome, tempHome } from './support/temp-home.ts';

/** The migrations this release added, by set: what a fleet of the previous release lacks. */
const ADDED_IN_THIS_RELEASE: Readonly<Record<string, readonly number[]>> = {
  'card-authorizations': [6],
  admission: [1],
};
const startTimeoutMs = 300_000;

/** `sets` as the previous release shipped them. */
function previousRelease(sets: readonly MigrationSet[]): MigrationSet[] {
  return sets.map((set) => ({
    name: set.name,
    migrations: set.migrations.filter(
      (migration) => !ADDED_IN_THIS_RELEASE[set.name]?.includes(migration.version),
    ),
  }));
}

const PREVIOUS_MODULES: readonly DomainModule[] = MODULES.map((module) => ({
  ...module,
  shardMigrations: previousRelease(module.shardMigrations),
  catalogMigrations: previousRelease(module.catalogMigrations ?? []),
}));
const SHARD_SETS: readonly MigrationSet[] = [
  DEMO_MIGRATIONS,
  ...MODULES.flatMap((module) => module.shardMigrations),
];

/** The application tables whose rows must survive the upgrade untouched. */
const KEPT_TABLES = [
  'demo_customers',
  'idempotency_keys',
  'payment_users',
  'bound_cards',
  'card_vault',
  'card_accounts',
  'cards',
  'authorizations',
];

const home = tempHome('migrations-upgrade');
let config: MainstayConfig;
let platform: Platform | undefined;
let key = 0;

async function post(route: string, body: unknown): Promise<Record<string, unknown>> {
  assert.ok(platform);
  const response = await fetch(`${platform.url}${route}`, {
    method: 'POST',
    headers: {
      ...authHeaders(home),
      'content-type': 'application/json',
      'idempotency-key': `upgrade-${++key}`,
    },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  assert.ok(response.status < 300, `${route}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

const authorization = (cardId: string, amount: number) => ({
  requestId: `upgrade-req-${++key}`,
  cardId,
  amount,
  currency: 'CNY',
  merchant: { id: 'mer_tmall', categoryCode: '5311' },
});

/** Runs `work` on every shard database, on the home primary and on the copy DC's primary. */
async function eachShardDatabase<T>(work: (pool: pg.Pool) => Promise<T>): Promise<Map<string, T>> {
  assert.ok(platform);
  const catalog = await platform.fleet.catalog.load();
  assert.ok(catalog && catalog.shards.length > 0, 'the fleet has shards');
  const results = new Map<string, T>();
  for (const shard of catalog.shards) {
    for (const side of ['home', 'copy'] as const) {
      results.set(
        `${shard.id}/${side}`,
        await work(await platform.fleet.shardPool(shard.id, side)),
      );
    }
  }
  return results;
}

/** The ledger of one database: `set/version` to checksum and time applied. */
async function ledgerOf(pool: pg.Pool): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ id: string; applied: string }>(
    `SELECT migration_set || '/' || version AS id, checksum || ' ' || applied_at::text AS applied
       FROM mainstay.migrations`,
  );
  return new Map(rows.map((row) => [row.id, row.applied]));
}

/** The ledger of the catalog database on the witness. */
async function catalogLedger(): Promise<Map<string, string>> {
  assert.ok(platform);
  const pool = guardedPool({
    ...platform.fleet.connection(config.witness.id),
    database: 'mainstay_catalog',
    max: 1,
  });
  try {
    return await ledgerOf(pool);
  } finally {
    await pool.end();
  }
}

/** Which of the two batch functions a database has. */
async function functionsOf(pool: pg.Pool): Promise<{ authorize: boolean; engine: boolean }> {
  const { rows } = await pool.query<{ authorize: boolean; engine: boolean }>(
    `SELECT to_regproc('public.card_authorize_batch') IS NOT NULL AS authorize,
            to_regproc('public.card_engine_batch') IS NOT NULL AS engine`,
  );
  assert.ok(rows[0]);
  return rows[0];
}

/** Per kept table: its row count and a digest of every row. */
async function rowsOf(pool: pg.Pool): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const table of KEPT_TABLES) {
    const { rows } = await pool.query<{ digest: string }>(
      `SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-')
         AS digest FROM public.${table} t`,
    );
    digests[table] = rows[0]?.digest ?? '';
  }
  return digests;
}

describe('a fleet of the previous release starts on the new code', () => {
  let ledgersBefore: Map<string, Map<string, string>>;
  let catalogBefore: Map<string, string>;
  let rowsBefore: Map<string, Record<string, string>>;
  let appliedByHand: Awaited<ReturnType<typeof migrate>>;
  let old: { accountId: string; cardId: string; authorizationId: string };

  before(
    async () => {
      // The issuer path answers every authorization, however loaded the machine: a slow first
      // batch after a start must not hand the request to stand-in, which this test is not about.
      const file = path.join(home, 'mainstay.config.json');
      const standIn = { issuerTimeoutMs: 30_000, latencyStandInMs: 60_000 };
      writeFileSync(file, JSON.stringify({ cards: { standIn } }));
      const env = { MAINSTAY_HOME: home, MAINSTAY_PORT: '0', MAINSTAY_CONFIG: file };
      config = loadConfig({ cwd: home, env }, CONFIG_SECTIONS);
      platform = await startPlatform({ config, modules: PREVIOUS_MODULES, failover: false });
      const account = await post('/v1/card-accounts', { currency: 'CNY', creditLimit: 100_000 });
      const card = await post(`/v1/card-accounts/${account.id}/cards`, {});
      const approved = await post('/v1/authorizations', authorization(String(card.id), 30_000));
      assert.equal(approved.status, 'approved');
      await post(`/v1/authorizations/${approved.id}/capture`, { amount: 10_000 });
      old = {
        accountId: String(account.id),
        cardId: String(card.id),
        authorizationId: String(approved.id),
      };
      const functions = await eachShardDatabase(functionsOf);
      for (const [db, found] of functions) {
        assert.deepEqual(found, { authorize: true, engine: true }, `${db} before the upgrade`);
      }
      ledgersBefore = await eachShardDatabase(ledgerOf);
      catalogBefore = await catalogLedger();
      rowsBefore = await eachShardDatabase(rowsOf);
      // The migrator itself, on one database, with the new list: only the new migration runs.
      const client = await (await platform.fleet.shardPool(0, 'home')).connect();
      try {
        appliedByHand = await migrate(client, SHARD_SETS);
      } finally {
        client.release();
      }
      await platform.stop();
      platform = undefined;
      platform = await startPlatform({ config, modules: MODULES, failover: false });
    },
    { timeout: startTimeoutMs },
  );
  after(async () => {
    await platform?.stop();
    removeHome(home);
  });

  test('the migrator applies only the migrations this release added', () => {
    const total = SHARD_SETS.reduce((sum, set) => sum + set.migrations.length, 0);
    assert.deepEqual(appliedByHand, {
      applied: ['card-authorizations/6-drop-card_authorize_batch'],
      skipped: total - 1,
    });
  });

  test('every shard database of both DCs gained exactly the new migrations, nothing re-run', async () => {
    const ledgersAfter = await eachShardDatabase(ledgerOf);
    assert.deepEqual([...ledgersAfter.keys()], [...ledgersBefore.keys()]);
    for (const [db, after] of ledgersAfter) {
      const before = ledgersBefore.get(db);
      assert.ok(before);
      const added = [...after.keys()].filter((id) => !before.has(id));
      assert.deepEqual(added, ['card-authorizations/6'], db);
      for (const [id, applied] of before) assert.equal(after.get(id), applied, `${db} ${id}`);
    }
  });

  test("the catalog gained exactly the new modules' catalog migrations, nothing re-run", async () => {
    const after = await catalogLedger();
    const added = [...after.keys()].filter((id) => !catalogBefore.has(id));
    assert.deepEqual(added, ['admission/1']);
    for (const [id, applied] of catalogBefore) assert.equal(after.get(id), applied, id);
  });

  test('card_authorize_batch is gone everywhere; card_engine_batch stays', async () => {
    for (const [db, found] of await eachShardDatabase(functionsOf)) {
      assert.deepEqual(found, { authorize: false, engine: true }, db);
    }
  });

  test('every row on the home primaries is as it was', async () => {
    const rowsAfter = await eachShardDatabase(rowsOf);
    for (const [db, before] of rowsBefore) {
      if (db.endsWith('/home')) assert.deepEqual(rowsAfter.get(db), before, db);
    }
  });

  test('the new code serves the old rows: a reversal of the old hold, a new authorization', async () => {
    const reversed = await post(`/v1/authorizations/${old.authorizationId}/reversal`, {});
    assert.deepEqual(
      [reversed.capturedAmount, reversed.reversedAmount, reversed.heldAmount, reversed.holdState],
      [10_000, 20_000, 0, 'closed'],
    );
    const fresh = await post('/v1/authorizations', authorization(old.cardId, 95_000));
    assert.deepEqual(
      [fresh.decidedBy, fresh.status],
      ['issuer', 'insufficient_credit'],
      'the captured 10 000 still counts against the limit',
    );
    const fits = await post('/v1/authorizations', authorization(old.cardId, 90_000));
    assert.deepEqual([fits.decidedBy, fits.status], ['issuer', 'approved']);
    assert.equal(fits.accountId, old.accountId);
  });
});
