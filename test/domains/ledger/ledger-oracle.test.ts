/**
 * The differential test of the ledger's money rules: one seeded random stream of requests
 * (transfers, top-ups, pending transfers, posts in full, in part and too large, voids, linked
 * chains, retries with the same id as sent and with other fields, over-draws of guarded
 * accounts, credits past a credit guard, closed and unknown accounts, mismatched currencies,
 * settles of unknown pending ids, and all of these inside linked chains too: a chain failed by
 * an unknown pending id, a changed retry or the replay of a refusal, with replays before and after
 * its failing member) applied through the LedgerEngine (batched, the calls of a
 * wave at once) and through the one-transaction oracle, each on its own twin of every account.
 * Every outcome and every account's totals must agree.
 *
 * With calls at once the engine's order is its own, so a wave holds one call per group of
 * accounts and no two calls of a wave touch the same account (the funding account of a group
 * is its own too): calls of a wave commute, and the oracle applies them one after the other.
 * Inside a call the order is the call's, in both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newEntityId } from '../../../src/data/entity-id.ts';
import type { Router } from '../../../src/data/router.ts';
import { LedgerEngine } from '../../../src/domains/ledger/core/ledger-engine.ts';
import { isApplied, type LedgerRequest } from '../../../src/domains/ledger/core/ledger-types.ts';
import { LEDGER_MIGRATIONS } from '../../../src/domains/ledger/sql/ledger-migrations.ts';
import { insertLedgerAccount } from '../../../src/domains/ledger/store/ledger-accounts.ts';
import { checkLedgerBooks } from '../../../src/domains/ledger/store/ledger-checks.ts';
import { SeededRandom } from '../../support/chaos/seeded-random.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';
import {
  ACCOUNT_NAMES,
  type AccountName,
  type Group,
  generateCall,
  type Spec,
  toRequest,
} from '../../support/oracle/ledger-oracle-stream.ts';
import {
  OneTransactionLedger,
  type OracleOutcome,
} from '../../support/oracle/one-transaction-ledger.ts';

const SEED = 20_261_203;
const GROUP_COUNT = 12;
const WAVE_COUNT = 60;
/** Calls per wave, each on another group, sent to the engine at once. */
const WAVE_WIDTH = 10;
/** Totals are compared every this many waves, and at the end. */
const TOTALS_EVERY_WAVES = 15;

let fixture: FleetFixture;
let router: Router;
let engineRouter: Router;
let engine: LedgerEngine;
let oracle: OneTransactionLedger;

/** Opens one side's accounts of a group on the shard of `bucket`. */
async function openSide(bucket: number): Promise<Record<AccountName, string>> {
  const ids = Object.fromEntries(
    ACCOUNT_NAMES.map((name) => [name, newEntityId('lacc', bucket)]),
  ) as Record<AccountName, string>;
  await router.write(ids.funding, async (tx) => {
    for (const name of ACCOUNT_NAMES) {
      if (name === 'missing') continue;
      await insertLedgerAccount(tx, {
        id: ids[name],
        currency: name === 'usd' ? 'USD' : 'CNY',
        kind: name === 'funding' ? 'suspense' : name === 'shop' ? 'deposit' : 'wallet',
        debitsMustNotExceedCredits: name.startsWith('w') || name === 'closed' || name === 'usd',
        creditsMustNotExceedDebits: name === 'capped',
      });
    }
    await tx.query('UPDATE public.ledger_accounts SET closed = true WHERE id = $1', [ids.closed]);
  });
  return ids;
}

/** The requests of a call for one side: its ids prefixed, its accounts that side's twins. */
function sideOf(side: 'e' | 'o', group: Group, specs: readonly Spec[]): LedgerRequest[] {
  const accounts = side === 'e' ? group.engine : group.oracle;
  return specs.map((spec) => toRequest(spec, (id) => `${side}-${process.pid}-${id}`, accounts));
}

type Totals = string;

async function totalsOf(id: string): Promise<Totals> {
  const { value } = await router.read(
    id,
    (db) =>
      db.query<{ t: string }>(
        `SELECT format('%s/%s/%s/%s seq %s', debits_posted, credits_posted, debits_pending,
                       credits_pending, last_seq) AS t
           FROM public.ledger_accounts WHERE id = $1`,
        [id],
      ),
    { consistency: 'primary' },
  );
  return value.rows[0]?.t ?? 'none';
}

async function totalsDifferences(groups: readonly Group[], wave: number): Promise<string[]> {
  const differences: string[] = [];
  for (const group of groups) {
    for (const name of ACCOUNT_NAMES) {
      const [viaEngine, viaOracle] = await Promise.all([
        totalsOf(group.engine[name]),
        totalsOf(group.oracle[name]),
      ]);
      if (viaEngine !== viaOracle)
        differences.push(
          `wave ${wave} group ${group.n} ${name}: engine ${viaEngine}, oracle ${viaOracle}`,
        );
    }
  }
  return differences;
}

/** Outcomes the stream must reach: the rules compared, not only postings. */
const EXPECTED = [
  'posted',
  'pending',
  'voided',
  'replayed',
  'insufficient_funds',
  'exceeds_debits',
  'account_closed',
  'currency_mismatch',
  'debit_account_not_found',
  'credit_account_not_found',
  'exists_with_different_fields',
  'pending_transfer_not_found',
  'pending_transfer_already_posted',
  'exceeds_pending_amount',
  'linked_event_failed',
] as const;

/** Linked chains the stream must reach: each kind of failing member, replays around it. */
const CHAINS_EXPECTED = [
  'a chain failed by pending_transfer_not_found',
  'a chain failed by exists_with_different_fields',
  'a chain failed by the replay of a refusal',
  'a chain failed by a new refusal',
  'a replay of an applied request in a whole chain',
  'a replay of an applied request in a failed chain',
  'a stored id after the failing member',
] as const;

/** The cases of `CHAINS_EXPECTED` one call reached, by its outcomes. */
function chainCases(specs: readonly Spec[], outcomes: readonly OracleOutcome[]): string[] {
  if (specs.length < 2 || specs[0]?.linked !== true) return [];
  const failed = outcomes.findIndex((outcome) => !isApplied(outcome.status));
  const cases: string[] = [];
  const cause = outcomes[failed];
  if (cause?.replayed) cases.push('a chain failed by the replay of a refusal');
  else if (
    cause?.status === 'pending_transfer_not_found' ||
    cause?.status === 'exists_with_different_fields'
  )
    cases.push(`a chain failed by ${cause.status}`);
  else if (cause) cases.push('a chain failed by a new refusal');
  outcomes.forEach((outcome, k) => {
    if (outcome.replayed && isApplied(outcome.status))
      cases.push(`a replay of an applied request in a ${cause ? 'failed' : 'whole'} chain`);
    if (
      cause &&
      k > failed &&
      (outcome.replayed || outcome.status === 'exists_with_different_fields')
    )
      cases.push('a stored id after the failing member');
  });
  return cases;
}

/**
 * One wave: a call for each of `WAVE_WIDTH` groups, sent to the engine at once, then to the
 * oracle one after the other; the differences of their outcomes. Pending transfers answered
 * `pending` join their group's pool, the wave's requests its history.
 */
async function runWave(
  random: SeededRandom,
  groups: readonly Group[],
  wave: number,
  seen: Set<string>,
): Promise<string[]> {
  const differences: string[] = [];
  const chosen = new Set<number>();
  while (chosen.size < WAVE_WIDTH) chosen.add(random.int(0, GROUP_COUNT - 1));
  const calls = [...chosen].map((n) => {
    const group = groups[n] as Group;
    return { group, specs: generateCall(random.fork(), group, `${wave}-${n}`) };
  });
  const viaEngine = await Promise.all(
    calls.map(({ group, specs }) => engine.submit(sideOf('e', group, specs), group.engine.funding)),
  );
  for (const [index, { group, specs }] of calls.entries()) {
    const viaOracle = await oracle.submit(sideOf('o', group, specs), group.oracle.funding);
    const engineOutcomes = viaEngine[index] ?? [];
    specs.forEach((spec, k) => {
      const e = engineOutcomes[k];
      const o = viaOracle[k];
      const told = (x: typeof e | typeof o) =>
        x ? `${x.status} ${x.amount}${x.replayed ? ' replayed' : ''}` : 'nothing';
      if (e) seen.add(e.replayed ? 'replayed' : e.status);
      if (told(e) !== told(o))
        differences.push(
          `wave ${wave} group ${group.n} ${spec.what} ${spec.id}: engine ${told(e)}, oracle ${told(o)}`,
        );
      if (spec.kind === 'pending' && o?.status === 'pending' && !o.replayed)
        group.pendings.push({ id: spec.id, amount: spec.amount });
    });
    for (const reached of chainCases(specs, viaOracle)) seen.add(reached);
    group.history.push(...specs.filter((spec) => !spec.retry));
  }
  return differences;
}

describe('the ledger engine against the one-transaction oracle', () => {
  before(async () => {
    fixture = await startFleet('ledger-oracle', {}, [LEDGER_MIGRATIONS]);
    router = await fixture.router();
    engineRouter = await fixture.router({ applicationName: 'ledger-engine' });
    engine = new LedgerEngine(engineRouter);
    oracle = new OneTransactionLedger(router);
  });

  after(async () => {
    await engine?.close();
    await fixture?.stop();
  });

  test(`seed ${SEED}: every outcome and every account's totals agree`, async () => {
    const random = new SeededRandom(SEED);
    const ranges = router.map.snapshot.buckets;
    const groups: Group[] = [];
    for (let n = 0; n < GROUP_COUNT; n += 1) {
      const range = ranges[n % ranges.length];
      assert.ok(range);
      const bucket = range.first;
      groups.push({
        n,
        engine: await openSide(bucket),
        oracle: await openSide(bucket),
        history: [],
        pendings: [],
      });
    }
    const differences: string[] = [];
    const seen = new Set<string>();
    for (let wave = 0; wave < WAVE_COUNT; wave += 1) {
      differences.push(...(await runWave(random, groups, wave, seen)));
      if ((wave + 1) % TOTALS_EVERY_WAVES === 0)
        differences.push(...(await totalsDifferences(groups, wave)));
    }
    const maxBatch = engine.stats.batchSizeMax;
    assert.deepEqual(differences.slice(0, 12), [], `${differences.length} differences`);
    for (const shardId of router.map.shardIds) {
      const { value: breaks } = await router.readShard(shardId, checkLedgerBooks, {
        consistency: 'primary',
      });
      assert.deepEqual(breaks, [], `the books of shard ${shardId} hold`);
    }
    assert.ok(maxBatch > 1, `the engine shared batches between calls (largest ${maxBatch})`);
    // The stream reached the rules it is meant to compare, not only postings.
    for (const expected of [...EXPECTED, ...CHAINS_EXPECTED]) {
      assert.ok(seen.has(expected), `the stream produced ${expected}; saw ${[...seen].join(', ')}`);
    }
  });
});
