import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { newEntityId, taggedBucket } from '../../src/data/entity-id.ts';
import type { Router } from '../../src/data/router.ts';
import type {
  CardAccountService,
  IssueCardOptions,
} from '../../src/domains/cards/core/accounts/card-account-service.ts';
import type {
  Card,
  CardAccount,
} from '../../src/domains/cards/core/accounts/card-account-types.ts';
import { AuthorizationEngine } from '../../src/domains/cards/core/authorization/authorization-engine.ts';
import { AuthorizationService } from '../../src/domains/cards/core/authorization/authorization-service.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../../src/domains/cards/core/authorization/authorization-types.ts';
import { HoldSweeper } from '../../src/domains/cards/core/authorization/hold-sweeper.ts';
import {
  AUTHORIZATION_COLUMNS,
  type AuthorizationRow,
  outcomeOfRow,
} from '../../src/domains/cards/store/authorization-row.ts';
import { isMainstayError } from '../../src/errors/mainstay-error.ts';
import { readBooks } from './card-books.ts';
import type { OneTransactionAuthorizer } from './oracle/one-transaction-authorizer.ts';

/** A request of `amount` CNY on `card` with a fresh request id (fields override). */
export function request(
  card: Card | string,
  amount: bigint,
  fields: Partial<AuthorizationRequest> = {},
): AuthorizationRequest {
  return {
    requestId: randomUUID(),
    cardId: typeof card === 'string' ? card : card.id,
    amount,
    currency: 'CNY',
    merchantId: 'mch_1',
    merchantCategory: '5411',
    ...fields,
  };
}

/** The code a promise is rejected with (`'resolved'` if it is not); rethrows foreign errors. */
export async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isMainstayError(error)) return error.code;
    throw error;
  }
  return 'resolved';
}

/**
 * Helpers of the card authorization tests bound to a router and the accounts service: open
 * accounts and cards, and read what the primaries hold now (advices return no token).
 */
export function cardAuthorizationHelpers(router: Router, accounts: CardAccountService) {
  async function onPrimary<T extends Record<string, unknown>>(
    key: string,
    sql: string,
    params: unknown[],
  ): Promise<T[]> {
    const { value } = await router.read(key, (db) => db.query<T>(sql, params), {
      consistency: 'primary',
    });
    return value.rows;
  }

  /** Held and posted amounts as the account's primary has them now. */
  async function balances(account: CardAccount): Promise<{ held: bigint; posted: bigint }> {
    const [row] = await onPrimary<{ held: string; posted: string }>(
      account.id,
      'SELECT held::text, posted::text FROM public.card_accounts WHERE id = $1',
      [account.id],
    );
    return { held: BigInt(row?.held ?? -1), posted: BigInt(row?.posted ?? -1) };
  }

  return {
    onPrimary,
    balances,
    async openAccount(creditLimit: bigint, currency = 'CNY'): Promise<CardAccount> {
      return (
        await accounts.createAccount({ currency, creditLimit }, { idempotencyKey: randomUUID() })
      ).value;
    },
    async issue(account: CardAccount, options: IssueCardOptions = {}): Promise<Card> {
      return (await accounts.issueCard(account.id, options, { idempotencyKey: randomUUID() }))
        .value;
    },
    /** An authorization as its shard's primary has it now. */
    async authorizationOnPrimary(id: string): Promise<AuthorizationOutcome> {
      const [row] = await onPrimary<AuthorizationRow & Record<string, unknown>>(
        id,
        `SELECT ${AUTHORIZATION_COLUMNS} FROM public.authorizations WHERE id = $1`,
        [id],
      );
      assert.ok(row, `authorization ${id} is stored`);
      return outcomeOfRow(row);
    },
    async available(account: CardAccount): Promise<bigint> {
      const { held, posted } = await balances(account);
      return account.creditLimit - held - posted;
    },
  };
}

/** What the hold-move checks need: the fleet's routers, engines and services. */
export interface HoldMoveBed {
  readonly router: Router;
  readonly otherRouter: Router;
  readonly accounts: CardAccountService;
  /** The engine the engine-backed service sends its moves through. */
  readonly engine: AuthorizationEngine;
  /** Moves through `engine`'s lanes. */
  readonly viaEngine: AuthorizationService;
  /** Moves in a transaction of their own (no engine). */
  /** The one-transaction oracle, racing the engine on the same holds. */
  readonly direct: OneTransactionAuthorizer;
}

/**
 * The credit books of an account as its primary has them: the account's held and posted
 * amounts and the sums over its authorizations, which must always agree.
 */
export async function books(router: Router, accountId: string) {
  const read = await readBooks(router, accountId);
  const result = {
    held: read.held,
    posted: read.posted,
    holds: read.openHolds,
    captured: read.captured,
    limit: read.limit,
  };
  assert.equal(result.held, result.holds, 'account held = sum of its holds');
  assert.equal(result.posted, result.captured, 'account posted = sum of its captures');
  assert.ok(result.held + result.posted <= result.limit, 'never over the limit');
  return result;
}

/** Many captures and reversals of one hot account's holds, in few batches, add up exactly. */
export async function checkBatchedMoves(bed: HoldMoveBed): Promise<void> {
  const { openAccount, issue } = cardAuthorizationHelpers(bed.router, bed.accounts);
  const account = await openAccount(1_000_000n);
  const card = await issue(account, { velocityCountMax: 10_000 });
  const holds = await Promise.all(
    Array.from({ length: 60 }, () => bed.engine.authorize(request(card, 1_000n))),
  );
  assert.ok(holds.every((hold) => hold.status === 'approved'));
  const before = bed.engine.stats;
  const moves = holds.flatMap((hold, index) => {
    const id = hold.id;
    if (index % 3 === 0) return [bed.viaEngine.capture(id, 400n, { idempotencyKey: randomUUID() })];
    if (index % 3 === 1) return [bed.viaEngine.reverse(id, null, { idempotencyKey: randomUUID() })];
    return [
      bed.viaEngine.capture(id, 300n, { idempotencyKey: randomUUID() }),
      bed.viaEngine.reverse(id, 200n, { idempotencyKey: randomUUID() }),
    ];
  });
  const answers = await Promise.all(moves);
  const after = bed.engine.stats;
  assert.equal(after.moves - before.moves, 80);
  assert.ok(after.batches - before.batches <= 10, `${after.batches - before.batches} batches`);
  const token = bed.router.mergeTokens(...answers.map((answer) => answer.token));
  const final = await Promise.all(
    holds.map((hold) => bed.viaEngine.getAuthorization(hold.id, token)),
  );
  final.forEach((outcome, index) => {
    const expected =
      index % 3 === 0
        ? { held: 600n, captured: 400n, reversed: 0n, state: 'open' }
        : index % 3 === 1
          ? { held: 0n, captured: 0n, reversed: 1_000n, state: 'closed' }
          : { held: 500n, captured: 300n, reversed: 200n, state: 'open' };
    assert.deepEqual(
      [outcome.heldAmount, outcome.capturedAmount, outcome.reversedAmount, outcome.holdState],
      [expected.held, expected.captured, expected.reversed, expected.state],
    );
  });
  const sums = await books(bed.router, account.id);
  assert.equal(sums.held, 20n * 600n + 20n * 500n);
  assert.equal(sums.posted, 20n * 400n + 20n * 300n);
}

/** A capture and a reversal of all of one hold race: exactly one wins what remains. */
export async function checkMoveRace(bed: HoldMoveBed): Promise<void> {
  const { openAccount, issue } = cardAuthorizationHelpers(bed.router, bed.accounts);
  const account = await openAccount(1_000_000n);
  const card = await issue(account, { velocityCountMax: 10_000 });
  const holds = await Promise.all(
    Array.from({ length: 20 }, () => bed.engine.authorize(request(card, 1_000n))),
  );
  let captured = 0n;
  for (const [index, hold] of holds.entries()) {
    // Half race inside the engine (one batch); half race the direct path against the engine.
    const reverser = index % 2 === 0 ? bed.viaEngine : bed.direct;
    const settled = await Promise.allSettled([
      bed.viaEngine.capture(hold.id, index % 4 < 2 ? null : 300n, { idempotencyKey: randomUUID() }),
      reverser.reverse(hold.id, null, { idempotencyKey: randomUUID() }),
    ]);
    const won = settled.filter((s) => s.status === 'fulfilled');
    const lost = settled.filter((s) => s.status === 'rejected');
    if (index % 4 < 2) {
      assert.equal(won.length, 1, `exactly one of the two wins hold ${index}`);
      assert.ok(
        lost[0]?.status === 'rejected' && isMainstayError(lost[0].reason, 'state_conflict'),
      );
    } else {
      // Capture first: the reversal releases the rest; reversal first: nothing is left.
      assert.ok(
        won.length === 2 ||
          (won.length === 1 &&
            lost[0]?.status === 'rejected' &&
            isMainstayError(lost[0].reason, 'state_conflict')),
      );
    }
    const final = await bed.viaEngine.getAuthorization(
      hold.id,
      bed.router.mergeTokens(...won.map((s) => (s.status === 'fulfilled' ? s.value.token : null))),
    );
    assert.equal(final.holdState, 'closed');
    assert.equal(final.capturedAmount + final.reversedAmount, 1_000n);
    captured += final.capturedAmount;
  }
  const sums = await books(bed.router, account.id);
  assert.deepEqual([sums.held, sums.posted], [0n, captured]);
}

/**
 * A move's key: a retry gets the stored answer (`replayed`), whichever path wrote it; the key
 * with another request is `idempotency_key_reused`; two sends of one key in one batch apply once.
 */
export async function checkMoveIdempotency(bed: HoldMoveBed): Promise<void> {
  const { openAccount, issue } = cardAuthorizationHelpers(bed.router, bed.accounts);
  const account = await openAccount(100_000n);
  const card = await issue(account);
  const [first, second] = await Promise.all([
    bed.engine.authorize(request(card, 5_000n)),
    bed.engine.authorize(request(card, 5_000n)),
  ]);
  assert.ok(first && second);
  const key = randomUUID();
  const moved = await bed.viaEngine.capture(first.id, 1_000n, { idempotencyKey: key });
  assert.equal(moved.replayed, false);
  assert.equal(moved.value.capturedAmount, 1_000n);
  assert.deepEqual(await bed.viaEngine.getAuthorization(first.id, moved.token), moved.value);
  const replay = await bed.viaEngine.capture(first.id, 1_000n, { idempotencyKey: key });
  assert.equal(replay.replayed, true);
  assert.deepEqual(replay.value, moved.value);
  const viaDirect = await bed.direct.capture(first.id, 1_000n, { idempotencyKey: key });
  assert.equal(viaDirect.replayed, true);
  assert.deepEqual(viaDirect.value, moved.value);
  for (const other of [
    bed.viaEngine.capture(first.id, 2_000n, { idempotencyKey: key }),
    bed.viaEngine.capture(second.id, 1_000n, { idempotencyKey: key }),
    bed.viaEngine.capture(first.id, null, { idempotencyKey: key }),
  ]) {
    assert.equal(await rejection(other), 'idempotency_key_reused');
  }
  // The reversal scope is another one: the same key is free there.
  assert.equal(
    (await bed.viaEngine.reverse(first.id, 500n, { idempotencyKey: key })).replayed,
    false,
  );
  const directKey = randomUUID();
  const direct = await bed.direct.reverse(second.id, 700n, { idempotencyKey: directKey });
  const engineReplay = await bed.viaEngine.reverse(second.id, 700n, { idempotencyKey: directKey });
  assert.equal(engineReplay.replayed, true);
  assert.deepEqual(engineReplay.value, direct.value);
  assert.deepEqual(await bed.viaEngine.getAuthorization(second.id, direct.token), direct.value);
  const twiceKey = randomUUID();
  const twice = await Promise.all([
    bed.viaEngine.capture(second.id, 300n, { idempotencyKey: twiceKey }),
    bed.viaEngine.capture(second.id, 300n, { idempotencyKey: twiceKey }),
  ]);
  assert.deepEqual(
    twice.map((answer) => answer.replayed),
    [false, true],
  );
  assert.deepEqual(twice[1]?.value, twice[0]?.value);
  const sums = await books(bed.router, account.id);
  assert.deepEqual([sums.held, sums.posted], [10_000n - 1_000n - 500n - 700n - 300n, 1_300n]);
}

/**
 * Moves that fail in a batch fail alone: the rest of the batch is applied, and a failed move's
 * key stays free (as a rolled-back transaction would leave it).
 */
export async function checkMoveErrorsInOneBatch(bed: HoldMoveBed): Promise<void> {
  const { openAccount, issue } = cardAuthorizationHelpers(bed.router, bed.accounts);
  const account = await openAccount(100_000n);
  const card = await issue(account);
  const slow = new AuthorizationEngine(bed.router, { batchWindowMicros: 300_000 });
  const service = new AuthorizationService(bed.router, { engine: slow });
  try {
    const [a, b, c, closed] = await Promise.all(
      [1_000n, 2_000n, 3_000n, 4_000n].map((amount) => slow.authorize(request(card, amount))),
    );
    const declined = await slow.authorize(request(card, 1_000_000n));
    assert.ok(a && b && c && closed && declined.status === 'insufficient_credit');
    await service.reverse(closed.id, null, { idempotencyKey: randomUUID() });
    const usedKey = randomUUID();
    await service.capture(a.id, 10n, { idempotencyKey: usedKey });
    const batchesBefore = slow.stats.batches;
    const overKey = randomUUID();
    const unknown = newEntityId('auth', taggedBucket(card.id) ?? 0);
    const settled = await Promise.allSettled([
      service.capture(a.id, 500n, { idempotencyKey: randomUUID() }),
      service.capture(unknown, 1n, { idempotencyKey: randomUUID() }),
      service.capture(b.id, 2_001n, { idempotencyKey: overKey }),
      service.reverse(closed.id, 1n, { idempotencyKey: randomUUID() }),
      service.capture(declined.id, null, { idempotencyKey: randomUUID() }),
      service.capture(c.id, 5n, { idempotencyKey: usedKey }),
      service.reverse(b.id, 1_500n, { idempotencyKey: randomUUID() }),
      service.capture(c.id, null, { idempotencyKey: randomUUID() }),
    ]);
    assert.equal(slow.stats.batches - batchesBefore, 1, 'all eight moves went in one batch');
    const codes = settled.map((s) =>
      s.status === 'fulfilled' ? 'ok' : isMainstayError(s.reason) ? s.reason.code : 'other',
    );
    assert.deepEqual(codes, [
      'ok',
      'resource_not_found',
      'invalid_amount',
      'state_conflict',
      'state_conflict',
      'idempotency_key_reused',
      'ok',
      'ok',
    ]);
    const retried = await service.capture(b.id, 500n, { idempotencyKey: overKey });
    assert.equal(retried.replayed, false, 'a failed move left its key free');
    assert.equal(retried.value.heldAmount, 0n);
    const sums = await books(bed.router, account.id);
    assert.deepEqual([sums.held, sums.posted], [1_000n - 510n, 510n + 500n + 3_000n]);
  } finally {
    await slow.close();
  }
}

/**
 * Two engines authorize and move holds of one account at once, with the sweeper expiring
 * holds beside them: nothing deadlocks, nothing is overspent, the books agree.
 */
export async function checkTwoEnginesWithMoves(bed: HoldMoveBed): Promise<void> {
  const { openAccount, issue } = cardAuthorizationHelpers(bed.router, bed.accounts);
  const account = await openAccount(100_000n);
  const cards = [await issue(account, { velocityCountMax: 10_000 })];
  cards.push(await issue(account, { velocityCountMax: 10_000 }));
  const engines = [
    new AuthorizationEngine(bed.router, { holdTtlSeconds: 5 }),
    new AuthorizationEngine(bed.otherRouter, { holdTtlSeconds: 5 }),
  ] as const;
  const services = engines.map((engine) => new AuthorizationService(bed.router, { engine }));
  const sweeper = new HoldSweeper(bed.router, { batchSizeMax: 7 });
  const failures: unknown[] = [];
  let approved = 0;
  let released = 0;
  try {
    const clients = Array.from({ length: 48 }, async (_, client) => {
      const engine = engines[client % 2] as AuthorizationEngine;
      const service = services[(client + 1) % 2] as AuthorizationService;
      for (let round = 0; round < 6; round += 1) {
        const card = cards[(client + round) % 2] as (typeof cards)[number];
        const outcome = await engine.authorize(request(card, 1_000n));
        if (outcome.status !== 'approved') continue;
        approved += 1;
        const move =
          round % 3 === 0
            ? service.reverse(outcome.id, null, { idempotencyKey: randomUUID() })
            : round % 3 === 1
              ? service.capture(outcome.id, 400n, { idempotencyKey: randomUUID() })
              : Promise.resolve(null);
        await move.catch((error) => {
          if (!isMainstayError(error, 'state_conflict')) failures.push(error);
        });
      }
    });
    const sweeps = (async () => {
      while (approved === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      for (let sweep = 0; sweep < 5; sweep += 1) {
        released += await sweeper.expireHolds(new Date(Date.now() + 10_000));
      }
    })();
    await Promise.all([...clients, sweeps]);
  } finally {
    await sweeper.stop();
    await Promise.all(engines.map((engine) => engine.close()));
  }
  assert.deepEqual(failures, [], 'no move failed but for holds the sweeper expired first');
  assert.ok(approved > 0);
  assert.ok(released > 0, 'the sweeper expired holds while the engines ran');
  const sums = await books(bed.router, account.id);
  assert.ok(sums.held + sums.posted <= 100_000n);
}
