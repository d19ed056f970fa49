import type { CrossShardDriver } from '../../src/domains/ledger/core/cross-shard/cross-shard-driver.ts';
import type { CrossShardTransfers } from '../../src/domains/ledger/core/cross-shard/cross-shard-transfers.ts';
import type { LedgerAccountService } from '../../src/domains/ledger/core/ledger-account-service.ts';
import type { LedgerEngine } from '../../src/domains/ledger/core/ledger-engine.ts';
import type { OneTransactionLedger } from './one-transaction-ledger.ts';
import type { Customers } from './seed.ts';
import type { StageOp } from './stage.ts';

/** A seeded xorshift32 generator: two runs draw the same accounts. */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0 || 1;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state / 4_294_967_296;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)] as T;
  }
}

/** How many hot accounts every transfer credits one of; 0 for transfers between customers. */
export interface Profile {
  readonly label: string;
  readonly hotAccounts: number;
}

export const PROFILES: readonly Profile[] = [
  { label: 'uniform', hotAccounts: 0 },
  { label: '1 hot account', hotAccounts: 1 },
  { label: '10 hot accounts', hotAccounts: 10 },
];

/** Amounts between 0.01 and 10.00 CNY. */
const amountOf = (random: Random) => BigInt(1 + random.below(1_000));

/** Two different customer accounts of one shard (weighted by accounts per shard). */
function customerPair(customers: Customers, random: Random): [string, string, number] {
  const { id, shardId } = random.pick(customers.all);
  const peers = customers.byShard.get(shardId) as readonly string[];
  let other = random.pick(peers);
  while (other === id) other = random.pick(peers);
  return [id, other, shardId];
}

/** What the engine side of a profile runs on. */
export interface EngineSide {
  readonly engine: LedgerEngine;
  readonly accounts: LedgerAccountService;
  readonly customers: Customers;
  /** Institution account codes (settlement, striped), the first `hotAccounts` of them used. */
  readonly hotCodes: readonly string[];
}

/**
 * The engine's op for a profile: one transfer per `submit` call. Hot: a random customer pays
 * one of the hot institution accounts, into its stripe on the payer's shard (`stripeNear`,
 * spread by a counter so the shard's stripes share the traffic).
 */
export function engineOp(side: EngineSide, profile: Profile, runId: string, seed: number): StageOp {
  const random = new Random(seed);
  const codes = side.hotCodes.slice(0, profile.hotAccounts);
  let n = 0;
  return async () => {
    n += 1;
    const id = `${runId}-${n}`;
    const amount = amountOf(random);
    let debitAccountId: string;
    let creditAccountId: string;
    if (codes.length === 0) {
      [debitAccountId, creditAccountId] = customerPair(side.customers, random);
    } else {
      debitAccountId = random.pick(side.customers.all).id;
      creditAccountId = await side.accounts.stripeNear(
        random.pick(codes),
        'CNY',
        debitAccountId,
        n,
      );
    }
    const [outcome] = await side.engine.submit([
      { kind: 'transfer', id, debitAccountId, creditAccountId, amount, currency: 'CNY' },
    ]);
    return outcome?.status ?? 'no outcome';
  };
}

/** What the baseline side of a profile runs on. */
export interface BaselineSide {
  readonly ledger: OneTransactionLedger;
  readonly customers: Customers;
  /** Plain settlement rows, the first `hotAccounts` of them used. */
  readonly hotRows: readonly { readonly id: string; readonly shardId: number }[];
}

/**
 * The baseline's op for a profile: one transaction per transfer. Hot: a hot row is one row on
 * one shard (a naive design), so its payers are drawn from that shard's customers, which keeps
 * every transfer in one transaction.
 */
export function baselineOp(
  side: BaselineSide,
  profile: Profile,
  runId: string,
  seed: number,
): StageOp {
  const random = new Random(seed);
  const rows = side.hotRows.slice(0, profile.hotAccounts);
  let n = 0;
  return async () => {
    n += 1;
    const id = `${runId}-${n}`;
    const amount = amountOf(random);
    if (rows.length === 0) {
      const [debitAccountId, creditAccountId, shardId] = customerPair(side.customers, random);
      return side.ledger.transfer(shardId, {
        id,
        debitAccountId,
        creditAccountId,
        amount,
        currency: 'CNY',
      });
    }
    const hot = random.pick(rows);
    const payers = side.customers.byShard.get(hot.shardId) as readonly string[];
    return side.ledger.transfer(hot.shardId, {
      id,
      debitAccountId: random.pick(payers),
      creditAccountId: hot.id,
      amount,
      currency: 'CNY',
    });
  };
}

/**
 * A two-phase transfer through the engine: `pending` (a reservation on both accounts), then,
 * once it is answered, `post` of it in full, named by the payer's shard. Answers the post's
 * status (`posted`), or the pending's when it did not reserve.
 */
export function twoPhaseOp(side: EngineSide, runId: string, seed: number): StageOp {
  const random = new Random(seed);
  let n = 0;
  return async () => {
    n += 1;
    const id = `${runId}-${n}`;
    const [debitAccountId, creditAccountId] = customerPair(side.customers, random);
    const [pending] = await side.engine.submit([
      {
        kind: 'pending',
        id: `${id}-p`,
        debitAccountId,
        creditAccountId,
        amount: amountOf(random),
        currency: 'CNY',
        timeoutSeconds: 600,
      },
    ]);
    if (pending?.status !== 'pending') return pending?.status ?? 'no outcome';
    const [post] = await side.engine.submit(
      [{ kind: 'post', id: `${id}-post`, pendingId: `${id}-p` }],
      debitAccountId,
    );
    return post?.status ?? 'no outcome';
  };
}

/** What the cross-shard scenario runs on: the engine side, and the coordinator's two halves. */
export interface CrossShardSide extends EngineSide {
  readonly transfers: CrossShardTransfers;
  readonly driver: CrossShardDriver;
}

/**
 * A cross-shard transfer between customer accounts on two different shards (decision 49,
 * "Across shards"): `start` (leg 1 and the coordinator row in one transaction on the debtor's
 * shard), then driven to its final state by the same client (`CrossShardDriver.drive`: the
 * credit leg, both posts, the state changes), so the latency is the whole transfer's. Answers
 * the final state (`posted`), or the start's refusal.
 */
export function crossShardOp(side: CrossShardSide, runId: string, seed: number): StageOp {
  const random = new Random(seed);
  let n = 0;
  return async () => {
    n += 1;
    const id = `${runId}-${n}`;
    const debit = random.pick(side.customers.all);
    let credit = random.pick(side.customers.all);
    while (credit.shardId === debit.shardId) credit = random.pick(side.customers.all);
    const answer = await side.transfers.start({
      id,
      debitAccountId: debit.id,
      creditAccountId: credit.id,
      amount: amountOf(random),
      currency: 'CNY',
    });
    if (answer.status !== 'pending') return answer.status;
    const row = await side.driver.drive(id, debit.id);
    return row.state;
  };
}
