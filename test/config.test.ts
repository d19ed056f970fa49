import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../src/config/load-config.ts';
import type { CardsConfig } from '../src/domains/cards/config/cards-config.ts';
import { standInSettings } from '../src/domains/cards/config/stand-in-settings.ts';
import { STAND_IN_LIMITS_DEFAULT } from '../src/domains/cards/core/stand-in/stand-in-limits.ts';
import { isMainstayError, type MainstayError } from '../src/errors/mainstay-error.ts';
import { CONFIG_SECTIONS } from '../src/modules.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mainstay-config-'));

function withFile(name: string, content: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}

function load(env: Record<string, string>) {
  return loadConfig({ cwd: dir, env }, CONFIG_SECTIONS);
}

function rejection(env: Record<string, string>): MainstayError {
  try {
    load(env);
  } catch (error) {
    assert.ok(
      isMainstayError(error, 'config_invalid'),
      `expected config_invalid, got ${String(error)}`,
    );
    return error;
  }
  assert.fail('the config was accepted');
}

describe('configuration', () => {
  test('defaults give two DCs, a witness and four shards homed two per DC', () => {
    const config = load({ MAINSTAY_HOME: 'home' });
    assert.equal(config.home, path.join(dir, 'home'));
    assert.deepEqual(
      config.dataCentres.map((dc) => dc.id),
      ['dc1', 'dc2'],
    );
    assert.deepEqual(
      config.dataCentres.map((dc) => [dc.primary.id, dc.replica.id, dc.replica.upstream]),
      [
        ['dc1-a', 'dc1-b', 'dc1-a'],
        ['dc2-a', 'dc2-b', 'dc2-a'],
      ],
    );
    assert.equal(config.shards.length, 4);
    assert.equal(config.shards.filter((s) => s.homeDc === 'dc1').length, 2);
    assert.equal(config.shards.filter((s) => s.homeDc === 'dc2').length, 2);
    for (const shard of config.shards) assert.notEqual(shard.homeDc, shard.copyDc);
    const covered = config.shards.reduce((sum, s) => sum + s.buckets[1] - s.buckets[0] + 1, 0);
    assert.equal(covered, config.bucketCount);
    assert.equal(config.http.port, 8080);
    assert.equal(config.postgres.source, 'embedded');
  });

  test('MAINSTAY_PORT and MAINSTAY_PG_BIN apply', () => {
    const config = load({ MAINSTAY_PORT: '9191', MAINSTAY_PG_BIN: '/opt/pg/bin' });
    assert.equal(config.http.port, 9191);
    assert.equal(config.postgres.source, 'system');
    assert.equal(config.postgres.binDir, '/opt/pg/bin');
  });

  test('a schema violation names the file, the JSON pointer and what was expected', () => {
    const file = withFile(
      'bad.json',
      JSON.stringify({
        dataCentres: [
          { id: 'dc1', synchronousCommit: 'sometimes' },
          { id: 'dc2', primary: { port: 80 } },
        ],
        shards: { count: 'four' },
        colour: 'blue',
      }),
    );
    const error = rejection({ MAINSTAY_CONFIG: file });
    assert.match(
      error.message,
      new RegExp(`^${file.replaceAll('/', '\\/')}: invalid configuration`),
    );
    const byPointer = new Map(error.errors.map((e) => [e.pointer, e.detail]));
    assert.match(
      byPointer.get('/dataCentres/0/synchronousCommit') ?? '',
      /expected one of off, local, remote_write, on, remote_apply, async_may_lose_acked_writes, got "sometimes"/,
    );
    assert.match(
      byPointer.get('/dataCentres/1/primary/port') ?? '',
      /greater or equal to 1024, got 80/,
    );
    assert.match(byPointer.get('/shards/count') ?? '', /expected integer, got "four"/);
    assert.equal(byPointer.get('/colour'), 'unknown property');
    assert.match(error.message, /\/shards\/count: expected integer/);
  });

  test('malformed JSON is rejected with the parser message', () => {
    const file = withFile('broken.json', '{ "shards": { "count": 4, } }');
    const error = rejection({ MAINSTAY_CONFIG: file });
    assert.match(error.message, /not valid JSON/);
    assert.ok(error.message.startsWith(file));
  });

  test('a missing explicit config file is an error, not silently the defaults', () => {
    const error = rejection({ MAINSTAY_CONFIG: path.join(dir, 'absent.json') });
    assert.match(error.message, /cannot be read/);
  });

  test('cross-field rules: duplicate DC ids, duplicate ports, external without details', () => {
    const file = withFile(
      'cross.json',
      JSON.stringify({
        postgres: { source: 'external' },
        dataCentres: [
          { id: 'dc1', primary: { port: 30001 } },
          { id: 'dc1', replica: { port: 30001 } },
        ],
      }),
    );
    const error = rejection({ MAINSTAY_CONFIG: file });
    const pointers = error.errors.map((e) => e.pointer);
    assert.ok(pointers.includes('/dataCentres/1/id'), pointers.join());
    assert.ok(pointers.includes('/witness/external'), pointers.join());
    assert.ok(error.errors.some((e) => /port 30001 is also given to/.test(e.detail)));
  });

  test('system source needs a bin directory; MAINSTAY_PORT must be a port', () => {
    const file = withFile('system.json', JSON.stringify({ postgres: { source: 'system' } }));
    assert.ok(
      rejection({ MAINSTAY_CONFIG: file }).errors.some((e) => e.pointer === '/postgres/binDir'),
    );
    assert.ok(
      rejection({ MAINSTAY_PORT: 'eighty' }).errors.some((e) => e.pointer === '/http/port'),
    );
  });

  test('more shards than buckets is rejected', () => {
    const file = withFile('buckets.json', JSON.stringify({ shards: { count: 8, bucketCount: 4 } }));
    assert.ok(
      rejection({ MAINSTAY_CONFIG: file }).errors.some((e) => e.pointer === '/shards/bucketCount'),
    );
  });

  test('cards.standIn: limits from the file, the rest defaults; amounts become bigint', () => {
    const file = withFile(
      'stand-in.json',
      JSON.stringify({
        cards: {
          standIn: {
            issuerTimeoutMs: 800,
            limits: {
              windowSeconds: 3600,
              perTransactionMax: 20000,
              blockedCategories: ['7995'],
              categoryOverrides: { '5812': { countMax: 2 } },
              currencyAmounts: {
                JPY: { perTransactionMax: 5000, cardAmountMax: 20000, categoryAmountMax: 10000 },
              },
            },
          },
        },
      }),
    );
    const config = load({ MAINSTAY_CONFIG: file });
    const options = standInSettings((config.sections.cards as CardsConfig).standIn);
    assert.equal(options.issuerTimeoutMs, 800);
    assert.equal(options.probeIntervalMs, undefined, 'left out: the processor keeps its default');
    const limits = options.limits;
    assert.ok(limits);
    assert.equal(limits.windowMs, 3_600_000);
    assert.equal(limits.perTransactionMax, 20_000n);
    assert.equal(limits.cardAmountMax, STAND_IN_LIMITS_DEFAULT.cardAmountMax);
    assert.deepEqual(limits.blockedCategories, ['7995']);
    assert.deepEqual(limits.categoryOverrides, { '5812': { countMax: 2 } });
    assert.deepEqual(limits.currencyAmounts?.JPY, {
      perTransactionMax: 5_000n,
      cardAmountMax: 20_000n,
      categoryAmountMax: 10_000n,
    });
    assert.deepEqual(
      standInSettings(
        (load({ MAINSTAY_HOME: 'home' }).sections.cards as CardsConfig | undefined)?.standIn,
      ),
      {},
    );
  });

  test('cards.standIn: bad limits are refused with their place in the file', () => {
    const file = withFile(
      'stand-in-bad.json',
      JSON.stringify({
        cards: {
          standIn: {
            issuerTimeoutMs: 0,
            limits: {
              perTransactionMax: -1,
              cardCountMax: 1.5,
              blockedCategories: ['79'],
              currencyAmounts: {
                usd: { perTransactionMax: 1, cardAmountMax: 1, categoryAmountMax: 1 },
              },
              surprise: true,
            },
          },
        },
      }),
    );
    const pointers = rejection({ MAINSTAY_CONFIG: file }).errors.map((e) => e.pointer);
    for (const pointer of [
      '/cards/standIn/issuerTimeoutMs',
      '/cards/standIn/limits/perTransactionMax',
      '/cards/standIn/limits/cardCountMax',
      '/cards/standIn/limits/blockedCategories/0',
    ]) {
      assert.ok(pointers.includes(pointer), `${pointer} not in ${pointers.join()}`);
    }
    assert.ok(
      pointers.some((p) => p.startsWith('/cards/standIn/limits')),
      pointers.join(),
    );
  });
  test('jobs.idempotencyRetentionDays: 7 days unless the file says otherwise', () => {
    assert.equal(load({ MAINSTAY_HOME: 'home' }).jobs.idempotencyRetentionDays, 7);
    const file = withFile('jobs.json', JSON.stringify({ jobs: { idempotencyRetentionDays: 30 } }));
    assert.equal(load({ MAINSTAY_CONFIG: file }).jobs.idempotencyRetentionDays, 30);
    const shortest = withFile(
      'jobs-1.json',
      JSON.stringify({ jobs: { idempotencyRetentionDays: 1 } }),
    );
    assert.equal(load({ MAINSTAY_CONFIG: shortest }).jobs.idempotencyRetentionDays, 1);
  });

  test('jobs.idempotencyRetentionDays: under a day, fractions, text and unknown keys are refused', () => {
    for (const [name, jobs] of [
      ['zero', { idempotencyRetentionDays: 0 }],
      ['fraction', { idempotencyRetentionDays: 1.5 }],
      ['text', { idempotencyRetentionDays: '7' }],
      ['too-long', { idempotencyRetentionDays: 366 }],
    ] as const) {
      const file = withFile(`jobs-${name}.json`, JSON.stringify({ jobs }));
      const pointers = rejection({ MAINSTAY_CONFIG: file }).errors.map((e) => e.pointer);
      assert.ok(pointers.includes('/jobs/idempotencyRetentionDays'), `${name}: ${pointers}`);
    }
    const unknown = withFile('jobs-unknown.json', JSON.stringify({ jobs: { retention: 7 } }));
    const errors = rejection({ MAINSTAY_CONFIG: unknown }).errors;
    assert.ok(errors.some((e) => e.pointer === '/jobs/retention' && /unknown/.test(e.detail)));
  });
});
