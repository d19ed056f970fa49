/**
 * The differential test of the money rules: one seeded random stream of authorizations (new,
 * retried, retried with other fields, duplicates by merchant reference, wrong currency, over
 * the limit, past the velocity bound), captures and reversals (partial, whole, too large, of
 * declines, replayed), and blocks and unblocks, run through the authorization engine (the
 * production path: batches in one PL/pgSQL call per shard) and through the one-transaction
 * oracle (the same rules written the plain way), each on its own twin of every account. Every
 * decision, every error and every balance must agree. Rounds run several accounts at once, so
 * the engine decides them in shared batches.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Router } from '../../../src/data/router.ts';
import type { WriteContext } from '../../../src/data/write-contract.ts';
import { CardAccountService } from '../../../src/domains/cards/core/accounts/card-account-service.ts';
import { AuthorizationEngine } from '../../../src/domains/cards/core/authorization/authorization-engine.ts';
import { authorizationIdOf } from '../../../src/domains/cards/core/authorization/authorization-id.ts';
import { AuthorizationService } from '../../../src/domains/cards/core/authorization/authorization-service.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../../../src/domains/cards/core/authorization/authorization-types.ts';
import { cardsModule } from '../../../src/domains/cards/module.ts';
import { isMainstayError } from '../../../src/errors/mainstay-error.ts';
import { readBooks } from '../../support/card-books.ts';
import { SeededRandom } from '../../support/chaos/seeded-random.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';
import { OneTransactionAuthorizer } from '../../support/oracle/one-transaction-authorizer.ts';

const SEED = 20261202;
const ACCOUNT_COUNT = 10;
const ROUND_COUNT = 70;
/** Operations per round, each on another account, sent at once. */
const ROUND_WIDTH = 6;
const HOLD_TTL_SECONDS = 3_600;

/** One logical account: its engine twin and its oracle twin, opened alike. */
interface Twin {
  readonly engine: { account: string; card: string };
  readonly oracle: { account: string; card: string };
}

/** A logical authorization: the id each side gave it, and the request as sent. */
interface Decided {
  readonly twin: number;
  readonly request: Omit<AuthorizationRequest, 'cardId'>;
  readonly engineId: string;
  readonly oracleId: string;
}

/** What one side answered: a comparable summary of an outcome, or an error code. */
type Result = string;

let fixture: FleetFixture;
let router: Router;
let engine: AuthorizationEngine;
let viaEngine: AuthorizationService;
let oracle: OneTransactionAuthorizer;
let accounts: CardAccountService;
const twins: Twin[] = [];
let keys = 0;

const context = (): WriteContext => ({ idempotencyKey: `diff-${++keys}` });

function summary(outcome: AuthorizationOutcome): Result {
  return [
    outcome.status,
    outcome.responseCode,
    outcome.amount,
    outcome.heldAmount,
    outcome.capturedAmount,
    outcome.reversedAmount,
    outcome.holdState,
  ].join(' ');
}

async function settle(work: () => Promise<AuthorizationOutcome>): Promise<Result> {
  try {
    return summary(await work());
  } catch (error) {
    if (isMainstayError(error)) return `error ${error.code}`;
    throw error;
  }
}

async function openTwin(random: SeededRandom): Promise<Twin> {
  const creditLimit = BigInt(random.int(5, 60) * 1_000);
  const velocityCountMax = random.int(3, 12);
  const side = async () => {
    const account = await accounts.createAccount({ currency: 'CNY', creditLimit }, context());
    const card = await accounts.issueCard(
      account.value.id,
      { velocityCountMax, velocityWindowSeconds: 3_600 },
      context(),
    );
    return { account: account.value.id, card: card.value.id };
  };
  return { engine: await side(), oracle: await side() };
}

/** One random operation on twin `n`: both sides' results, to be compared. */
async function operate(
  random: SeededRandom,
  n: number,
  decided: Decided[],
  step: number,
): Promise<{ what: string; engine: Result; oracle: Result }> {
  const twin = twins[n] as Twin;
  const own = decided.filter((d) => d.twin === n);
  const roll = random.next();
  if (roll < 0.55 || own.length === 0) {
    const request = {
      requestId: `req-${step}`,
      amount: BigInt(random.chance(0.05) ? 0 : random.int(1, 25) * 500),
      currency: random.chance(0.05) ? 'USD' : 'CNY',
      merchantId: `mer_${random.int(1, 3)}`,
      merchantCategory: random.pick(['5311', '5411', '5812']),
      merchantReference: random.chance(0.2) ? `ref-${random.int(1, 4)}` : null,
    };
    const [engineOutcome, oracleOutcome] = await Promise.all([
      settle(
        async () =>
          (await engine.authorizeWithToken({ ...request, cardId: twin.engine.card })).value,
      ),
      settle(() => oracle.authorize({ ...request, cardId: twin.oracle.card })),
    ]);
    decided.push({
      twin: n,
      request,
      engineId: idOf(twin.engine.card, request.requestId),
      oracleId: idOf(twin.oracle.card, request.requestId),
    });
    return {
      what: `authorize ${JSON.stringify(request, bigints)}`,
      engine: engineOutcome,
      oracle: oracleOutcome,
    };
  }
  const earlier = random.pick(own);
  if (roll < 0.65) {
    // A retry: the same request id, as sent, or with another amount (a reuse).
    const reuse = random.chance(0.3);
    const request = reuse
      ? { ...earlier.request, amount: earlier.request.amount + 1n }
      : earlier.request;
    const [engineOutcome, oracleOutcome] = await Promise.all([
      settle(
        async () =>
          (await engine.authorizeWithToken({ ...request, cardId: twin.engine.card })).value,
      ),
      settle(() => oracle.authorize({ ...request, cardId: twin.oracle.card })),
    ]);
    return {
      what: `retry ${earlier.request.requestId}${reuse ? ' reused' : ''}`,
      engine: engineOutcome,
      oracle: oracleOutcome,
    };
  }
  if (roll < 0.93) {
    const kind = random.chance(0.6) ? 'capture' : 'reverse';
    const amount = random.chance(0.3) ? null : BigInt(random.int(1, 30) * 250);
    // Each side its own key: the twins may share a shard, and with it the idempotency records.
    const { idempotencyKey } = context();
    const engineKey = { idempotencyKey: `${idempotencyKey}-engine` };
    const oracleKey = { idempotencyKey: `${idempotencyKey}-oracle` };
    const again = random.chance(0.15);
    const run = async () => {
      const results = await Promise.all([
        settle(async () => (await viaEngine[kind](earlier.engineId, amount, engineKey)).value),
        settle(async () => (await oracle[kind](earlier.oracleId, amount, oracleKey)).value),
      ]);
      return results;
    };
    const [engineResult, oracleResult] = await run();
    if (again) {
      const [engineReplay, oracleReplay] = await run();
      assert.equal(engineReplay, engineResult, 'an engine replay answers the first outcome');
      assert.equal(oracleReplay, oracleResult, 'an oracle replay answers the first outcome');
    }
    return {
      what: `${kind} ${amount ?? 'all'} of ${earlier.request.requestId}`,
      engine: engineResult,
      oracle: oracleResult,
    };
  }
  const block = random.chance(0.5);
  const flip = async (card: string) => {
    const answer = block
      ? await accounts.blockCard(card, context())
      : await accounts.unblockCard(card, context());
    return answer.value.status;
  };
  const [engineStatus, oracleStatus] = await Promise.all([
    flip(twin.engine.card),
    flip(twin.oracle.card),
  ]);
  return { what: block ? 'block' : 'unblock', engine: engineStatus, oracle: oracleStatus };
}

/** Ids are derived from card and request id, so each side's id is known without asking. */
function idOf(cardId: string, requestId: string): string {
  return authorizationIdOf(cardId, requestId, router.map.bucketOf(cardId));
}

function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

describe('the engine against the one-transaction oracle', () => {
  before(async () => {
    fixture = await startFleet('engine-oracle', {}, cardsModule.shardMigrations);
    router = await fixture.router();
    accounts = new CardAccountService(router);
    engine = new AuthorizationEngine(router, { holdTtlSeconds: HOLD_TTL_SECONDS });
    viaEngine = new AuthorizationService(router, { engine });
    oracle = new OneTransactionAuthorizer(router, { holdTtlSeconds: HOLD_TTL_SECONDS });
  });

  after(async () => {
    await engine?.close();
    await fixture?.stop();
  });

  test(`seed ${SEED}: every decision, error and balance agrees`, async () => {
    const random = new SeededRandom(SEED);
    for (let n = 0; n < ACCOUNT_COUNT; n += 1) twins.push(await openTwin(random));
    const decided: Decided[] = [];
    const differences: string[] = [];
    let step = 0;
    const seen = new Set<string>();
    for (let round = 0; round < ROUND_COUNT; round += 1) {
      const chosen = new Set<number>();
      while (chosen.size < ROUND_WIDTH) chosen.add(random.int(0, ACCOUNT_COUNT - 1));
      const first = step;
      step += chosen.size;
      const results = await Promise.all(
        [...chosen].map((n, index) => operate(random.fork(), n, decided, first + index)),
      );
      for (const result of results) {
        const [first = ''] = result.engine.split(' ');
        seen.add(first === 'error' ? result.engine : first);
        if (result.engine !== result.oracle)
          differences.push(
            `round ${round} ${result.what}: engine ${result.engine}, oracle ${result.oracle}`,
          );
      }
      for (const n of chosen) {
        const twin = twins[n] as Twin;
        const [engineBooks, oracleBooks] = await Promise.all([
          readBooks(router, twin.engine.account),
          readBooks(router, twin.oracle.account),
        ]);
        if (JSON.stringify(engineBooks, bigints) !== JSON.stringify(oracleBooks, bigints))
          differences.push(
            `round ${round} account ${n}: engine ${JSON.stringify(engineBooks, bigints)}, oracle ${JSON.stringify(oracleBooks, bigints)}`,
          );
      }
    }
    assert.deepEqual(differences.slice(0, 10), []);
    // The stream reached the rules it is meant to compare, not only approvals.
    for (const expected of [
      'approved',
      'insufficient_credit',
      'currency_mismatch',
      'velocity_exceeded',
      'card_blocked',
      'error state_conflict',
      'error idempotency_key_reused',
    ]) {
      assert.ok(seen.has(expected), `the stream produced ${expected}; saw ${[...seen].join(', ')}`);
    }
  });
});
