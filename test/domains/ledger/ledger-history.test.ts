/**
 * Past balances against a replay (decision 49, "historical balances"): a seeded random stream
 * of transfers, pending transfers, posts in full and in part, voids and expiries of pending
 * transfers past their timeout, sent through the engine in waves with time between them; then,
 * for many sampled times (at random over the run, and on both sides of postings' times), the
 * service's balance at that time (one index probe) must equal the sum of the account's own
 * postings up to then, posted and pending movements alike, summed here from `ledger_postings`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { newEntityId } from '../../../src/data/entity-id.ts';
import type { Router } from '../../../src/data/router.ts';
import { LedgerAccountService } from '../../../src/domains/ledger/core/ledger-account-service.ts';
import { LedgerEngine } from '../../../src/domains/ledger/core/ledger-engine.ts';
import type { LedgerRequest } from '../../../src/domains/ledger/core/ledger-types.ts';
import { LEDGER_MIGRATIONS } from '../../../src/domains/ledger/sql/ledger-migrations.ts';
import { insertLedgerAccount } from '../../../src/domains/ledger/store/ledger-accounts.ts';
import { SeededRandom } from '../../support/chaos/seeded-random.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';

const SEED = 20_261_204;
const WAVE_COUNT = 16;
const WAVE_GAP_MS = { min: 20, max: 250 } as const;
const CALL_LENGTH_MAX = 6;
const WALLET_COUNT = 4;
/** Random times over the run, per account; and postings whose times are probed on both sides. */
const RANDOM_TIMES_PER_ACCOUNT = 40;
const EDGE_POSTINGS_PER_ACCOUNT = 25;
const SHORT_TIMEOUT_SECONDS = 1;
const LONG_TIMEOUT_SECONDS = 3_600;

let fixture: FleetFixture;
let router: Router;
let engineRouter: Router;
let engine: LedgerEngine;
let accounts: LedgerAccountService;

/** The accounts of one shard: an unguarded funding account and guarded wallets. */
interface ShardAccounts {
  readonly funding: string;
  readonly wallets: readonly string[];
  readonly pendings: { id: string; amount: number; timeoutSeconds: number; sentAt: number }[];
}

async function openShardAccounts(bucket: number): Promise<ShardAccounts> {
  const funding = newEntityId('lacc', bucket);
  const wallets = Array.from({ length: WALLET_COUNT }, () => newEntityId('lacc', bucket));
  await router.write(funding, async (tx) => {
    await insertLedgerAccount(tx, { id: funding, currency: 'CNY', kind: 'suspense' });
    for (const id of wallets)
      await insertLedgerAccount(tx, {
        id,
        currency: 'CNY',
        kind: 'wallet',
        debitsMustNotExceedCredits: true,
      });
  });
  return { funding, wallets, pendings: [] };
}

/** One call's requests on a shard's accounts, by seeded rolls. */
function callOf(random: SeededRandom, shard: ShardAccounts, label: string): LedgerRequest[] {
  const requests: LedgerRequest[] = [];
  const length = random.int(1, CALL_LENGTH_MAX);
  for (let k = 0; k < length; k += 1) {
    const id = `h-${process.pid}-${label}-${k}`;
    const roll = random.next();
    const wallet = random.pick(shard.wallets);
    const other = random.pick(shard.wallets.filter((w) => w !== wallet));
    const move = (kind: 'transfer' | 'pending', debit: string, credit: string, amount: number) =>
      ({
        kind,
        id,
        debitAccountId: debit,
        creditAccountId: credit,
        amount: BigInt(amount),
        currency: 'CNY',
      }) as const;
    if (roll < 0.25) requests.push(move('transfer', shard.funding, wallet, random.int(500, 3_000)));
    else if (roll < 0.55) requests.push(move('transfer', wallet, other, random.int(1, 1_500)));
    else if (roll < 0.75 || shard.pendings.length === 0) {
      const timeoutSeconds = random.chance(0.3) ? SHORT_TIMEOUT_SECONDS : LONG_TIMEOUT_SECONDS;
      requests.push({ ...move('pending', wallet, other, random.int(1, 1_000)), timeoutSeconds });
    } else {
      const [pending] = shard.pendings.splice(random.int(0, shard.pendings.length - 1), 1);
      if (!pending) continue;
      const due = Date.now() > pending.sentAt + pending.timeoutSeconds * 1000 + 200;
      const settle = { id, pendingId: pending.id } as const;
      if (due) requests.push({ ...settle, kind: 'expire' });
      else if (random.chance(0.3)) requests.push({ ...settle, kind: 'void' });
      else if (random.chance(0.5)) requests.push({ ...settle, kind: 'post' });
      else
        requests.push({ ...settle, kind: 'post', amount: BigInt(random.int(1, pending.amount)) });
    }
  }
  return requests;
}

interface Posting {
  readonly seq: bigint;
  /** Microseconds since the epoch, as PostgreSQL keeps it. */
  readonly atUs: bigint;
  readonly moves: readonly [bigint, bigint, bigint, bigint];
}

async function postingsOf(id: string): Promise<Posting[]> {
  const { value } = await router.read(
    id,
    (db) =>
      db.query<{ seq: string; at_us: string; d: string; c: string; dp: string; cp: string }>(
        `SELECT seq::text, (extract(epoch FROM posted_at) * 1000000)::bigint::text AS at_us,
                debit::text AS d, credit::text AS c, debit_pending::text AS dp,
                credit_pending::text AS cp
           FROM public.ledger_postings p WHERE account_id = $1 ORDER BY p.seq`,
        [id],
      ),
    { consistency: 'primary' },
  );
  return value.rows.map((row) => ({
    seq: BigInt(row.seq),
    atUs: BigInt(row.at_us),
    moves: [BigInt(row.d), BigInt(row.c), BigInt(row.dp), BigInt(row.cp)],
  }));
}

/** The replay: the postings up to `atMs` summed, as `seq d/c/dp/cp`. */
function replay(postings: readonly Posting[], atMs: number): string {
  const limit = BigInt(atMs) * 1000n;
  let seq = 0n;
  const sums = [0n, 0n, 0n, 0n];
  for (const posting of postings) {
    if (posting.atUs > limit) continue;
    seq = posting.seq > seq ? posting.seq : seq;
    posting.moves.forEach((move, n) => {
      sums[n] = (sums[n] ?? 0n) + move;
    });
  }
  return `${seq} ${sums.join('/')}`;
}

/** Times to probe for one account: at random over the run, and both sides of postings. */
function timesFor(random: SeededRandom, postings: readonly Posting[], from: number, to: number) {
  const times = Array.from({ length: RANDOM_TIMES_PER_ACCOUNT }, () => random.int(from, to));
  for (let n = 0; n < EDGE_POSTINGS_PER_ACCOUNT && postings.length > 0; n += 1) {
    const posting = random.pick(postings);
    const ms = Number(posting.atUs / 1000n);
    times.push(ms - 1, ms, ms + 1);
  }
  return times;
}

/**
 * The stream in waves, a call per shard at once, with time between waves; a pending transfer
 * per shard kept aside and expired at the end. Answers the run's times, a token covering every
 * write, and the outcomes seen.
 */
async function sendStream(random: SeededRandom, shards: readonly ShardAccounts[]) {
  const startedAt = Date.now();
  let token: string | null = null;
  const applied = new Set<string>();
  // A pending transfer per shard kept aside from the stream, expired at its end.
  const kept = shards.map((shard, n) => ({
    kind: 'pending' as const,
    id: `h-${process.pid}-kept-${n}`,
    debitAccountId: shard.funding,
    creditAccountId: shard.wallets[0] ?? '',
    amount: 77n,
    currency: 'CNY',
    timeoutSeconds: SHORT_TIMEOUT_SECONDS,
  }));
  for (const [n, request] of kept.entries()) {
    const [outcome] = await engine.submit([request], shards[n]?.funding);
    assert.equal(outcome?.status, 'pending');
  }
  for (let wave = 0; wave < WAVE_COUNT; wave += 1) {
    const answers = await Promise.all(
      shards.map(async (shard, n) => {
        const requests = callOf(random, shard, `${wave}-${n}`);
        const sentAt = Date.now();
        const answer = await engine.submitWithToken(requests, shard.funding, null);
        answer.value.forEach((outcome, k) => {
          applied.add(outcome.status);
          const request = requests[k];
          if (request?.kind === 'pending' && outcome.status === 'pending')
            shard.pendings.push({
              id: request.id,
              amount: Number(request.amount),
              timeoutSeconds: request.timeoutSeconds ?? LONG_TIMEOUT_SECONDS,
              sentAt,
            });
        });
        return answer.token;
      }),
    );
    token = router.mergeTokens(...(token ? [token] : []), ...answers.filter((t) => t !== null));
    await sleep(random.int(WAVE_GAP_MS.min, WAVE_GAP_MS.max));
  }
  await sleep(SHORT_TIMEOUT_SECONDS * 1000 + 200);
  for (const [n, request] of kept.entries()) {
    const expire = { kind: 'expire' as const, id: `${request.id}-expire`, pendingId: request.id };
    const answer = await engine.submitWithToken([expire], shards[n]?.funding, token);
    applied.add(answer.value[0]?.status ?? 'nothing');
    token = answer.token;
  }
  const endedAt = Date.now();
  return { startedAt, endedAt, token, applied };
}

describe('a balance at a past time equals the replay of the postings up to it', () => {
  before(async () => {
    fixture = await startFleet('ledger-history', {}, [LEDGER_MIGRATIONS]);
    router = await fixture.router();
    engineRouter = await fixture.router({ applicationName: 'ledger-engine' });
    engine = new LedgerEngine(engineRouter);
    accounts = new LedgerAccountService(router);
  });

  after(async () => {
    await engine?.close();
    await fixture?.stop();
  });

  test(`seed ${SEED}: every sampled time, every account`, async () => {
    const random = new SeededRandom(SEED);
    const ranges = router.map.snapshot.buckets;
    const shards = await Promise.all(
      [0, 1].map((n) =>
        openShardAccounts((ranges[(n * ranges.length) >> 1] ?? ranges[0])?.first ?? 0),
      ),
    );
    const { startedAt, endedAt, token, applied } = await sendStream(random, shards);
    for (const status of ['posted', 'pending', 'voided', 'expired'])
      assert.ok(applied.has(status), `the stream ${status}; saw ${[...applied].join(', ')}`);
    const differences: string[] = [];
    let probes = 0;
    for (const id of shards.flatMap((shard) => [shard.funding, ...shard.wallets])) {
      const postings = await postingsOf(id);
      assert.ok(postings.length > 1, `${id} has a history`);
      postings.forEach((posting, n) => {
        const earlier = postings[n - 1];
        if (earlier && earlier.atUs > posting.atUs)
          differences.push(`${id}: seq ${posting.seq} posted before seq ${earlier.seq}`);
      });
      for (const at of timesFor(random, postings, startedAt - 1_000, endedAt + 1_000)) {
        probes += 1;
        const then = await accounts.balanceAt(id, new Date(at), token);
        const seen = `${then.seq} ${then.debitsPosted}/${then.creditsPosted}/${then.debitsPending}/${then.creditsPending}`;
        const wanted = replay(postings, at);
        if (seen !== wanted)
          differences.push(`${id} at ${new Date(at).toISOString()}: ${seen}, replay ${wanted}`);
        assert.equal(then.balance, then.creditsPosted - then.debitsPosted);
      }
    }
    assert.ok(probes > 500, `${probes} times probed`);
    assert.deepEqual(differences.slice(0, 10), [], `${differences.length} of ${probes} differ`);
  });
});
