/**
 * The seeded request stream of the ledger's differential test. Requests are written once in
 * logical terms (account names of a group, ids local to the stream) and turned into each side's
 * requests (its own ids, its twin accounts), so the engine and the oracle get the same stream.
 */
import type { LedgerRequest } from '../../../src/domains/ledger/core/ledger-types.ts';
import type { SeededRandom } from '../chaos/seeded-random.ts';

/**
 * The accounts of a group: an unguarded funding account, three guarded wallets, an unguarded
 * shop, an account whose credits may not exceed its debits, a closed wallet, a wallet in USD,
 * and an id no account has.
 */
export const ACCOUNT_NAMES = [
  'funding',
  'w0',
  'w1',
  'w2',
  'shop',
  'capped',
  'closed',
  'usd',
  'missing',
] as const;
export type AccountName = (typeof ACCOUNT_NAMES)[number];

const WALLETS: readonly AccountName[] = ['w0', 'w1', 'w2'];

interface SpecBase {
  readonly id: string;
  readonly what: string;
  /** A retry of an earlier id (as sent, or with another field). */
  readonly retry?: boolean;
  readonly reference?: string;
  readonly linked?: boolean;
}

/** A transfer or a pending transfer between two accounts of the group. */
export interface MoveSpec extends SpecBase {
  readonly kind: 'transfer' | 'pending';
  readonly debit: AccountName;
  readonly credit: AccountName;
  readonly amount: bigint;
  readonly currency: string;
  readonly timeoutSeconds?: number;
}

/** A post or a void of a pending transfer (by its id in the stream). */
export interface SettleSpec extends SpecBase {
  readonly kind: 'post' | 'void';
  readonly pending: string;
  readonly amount?: bigint;
}

/** One logical request, with what it is meant to exercise. */
export type Spec = MoveSpec | SettleSpec;

function isMoveSpec(spec: Spec): spec is MoveSpec {
  return spec.kind === 'transfer' || spec.kind === 'pending';
}

/** A group of accounts: its twins, the requests sent to it and the pending transfers it holds. */
export interface Group {
  readonly n: number;
  readonly engine: Record<AccountName, string>;
  readonly oracle: Record<AccountName, string>;
  /** Requests of earlier waves (not retries), to retry. */
  readonly history: Spec[];
  /** Pending transfers answered `pending` in earlier waves, to post or void. */
  readonly pendings: { readonly id: string; readonly amount: bigint }[];
}

const PENDING_TIMEOUT_SECONDS = 3_600;
const CALL_LENGTH_MAX = 4;
const CHAIN_SHARE = 0.25;
const OVERDRAW = 10_000_000n;

/** A call of 1 to 4 requests for `group`, sometimes linked whole. */
export function generateCall(random: SeededRandom, group: Group, label: string): Spec[] {
  const length = random.int(1, CALL_LENGTH_MAX);
  const chain = length > 1 && random.chance(CHAIN_SHARE);
  const specs: Spec[] = [];
  const used = new Set<string>();
  for (let k = 0; k < length; k += 1) {
    let spec = generateOne(random, group, `${label}-${k}`);
    if (used.has(spec.id)) spec = move(random, `${label}-${k}`, 'transfer', pair(random));
    used.add(spec.id);
    specs.push(spec);
  }
  if (!chain) return specs;
  return specs.map((spec, k) => (k < specs.length - 1 ? { ...spec, linked: true } : spec));
}

function pair(random: SeededRandom): [AccountName, AccountName] {
  const debit = random.pick(WALLETS);
  const credit = random.pick(WALLETS.filter((name) => name !== debit));
  return [debit, credit];
}

function move(
  random: SeededRandom,
  id: string,
  kind: 'transfer' | 'pending',
  [debit, credit]: [AccountName, AccountName],
  amount = BigInt(random.int(1, 3_000)),
  what: string = kind,
): MoveSpec {
  return {
    id,
    what,
    kind,
    debit,
    credit,
    amount,
    currency: 'CNY',
    ...(kind === 'pending' ? { timeoutSeconds: PENDING_TIMEOUT_SECONDS } : {}),
  };
}

/**
 * One request by a roll. Inside a chain as outside it: retries (as sent and changed) of stored
 * requests, applied or refused, and settles of unknown pending ids, so that a chain is failed by
 * each kind of member and holds replays before and after its failing member.
 */
function generateOne(random: SeededRandom, group: Group, id: string): Spec {
  const roll = random.next();
  const wallet = () => random.pick(WALLETS);
  if (roll < 0.2) return move(random, id, 'transfer', pair(random));
  if (roll < 0.28) {
    const amount = BigInt(random.int(1_000, 5_000));
    return move(random, id, 'transfer', ['funding', wallet()], amount, 'top-up');
  }
  if (roll < 0.36) return move(random, id, 'transfer', [wallet(), 'shop'], undefined, 'payment');
  if (roll < 0.46) {
    const [debit, other] = pair(random);
    return move(random, id, 'pending', [debit, random.chance(0.5) ? 'shop' : other]);
  }
  if (roll < 0.58) return settle(random, group, id);
  if (roll < 0.68 && group.history.length > 0) return retry(random, group);
  if (roll < 0.72) {
    const closedFirst = random.chance(0.5);
    return move(random, id, 'transfer', closedFirst ? ['closed', 'shop'] : [wallet(), 'closed']);
  }
  if (roll < 0.76) {
    const debitMissing = random.chance(0.5);
    return move(random, id, 'transfer', debitMissing ? ['missing', 'shop'] : [wallet(), 'missing']);
  }
  if (roll < 0.8) {
    const usd = random.chance(0.5);
    const spec = move(random, id, 'transfer', usd ? [wallet(), 'usd'] : [wallet(), 'shop']);
    return usd ? spec : { ...spec, currency: 'USD', what: 'currency USD' };
  }
  if (roll < 0.88) {
    // The capped account's debits grow from one side; credits past them are refused.
    const intoCap = random.chance(0.5);
    return move(random, id, 'transfer', intoCap ? [wallet(), 'capped'] : ['capped', wallet()]);
  }
  if (roll < 0.92) {
    const kind = random.chance(0.5) ? 'post' : 'void';
    return { id, what: `${kind} of an unknown id`, kind, pending: `no-such-${id}` };
  }
  return move(random, id, 'transfer', [wallet(), 'shop'], OVERDRAW, 'over-draw');
}

/** A post (whole, part, too much) or a void of a pending transfer of an earlier wave. */
function settle(random: SeededRandom, group: Group, id: string): Spec {
  if (group.pendings.length === 0)
    return move(random, id, 'pending', [random.pick(WALLETS), 'shop']);
  const pending = random.pick(group.pendings);
  const roll = random.next();
  if (roll < 0.3) return { id, what: 'void', kind: 'void', pending: pending.id };
  if (roll < 0.55) return { id, what: 'post whole', kind: 'post', pending: pending.id };
  if (roll < 0.85) {
    const amount = BigInt(random.int(1, Number(pending.amount)));
    return { id, what: 'post part', kind: 'post', pending: pending.id, amount };
  }
  const amount = pending.amount + 1n;
  return { id, what: 'post too much', kind: 'post', pending: pending.id, amount };
}

/** An earlier request again: as sent, or with another amount or reference. */
function retry(random: SeededRandom, group: Group): Spec {
  const { linked: _linked, ...earlier } = random.pick(group.history);
  if (random.chance(0.6)) return { ...earlier, retry: true, what: `retry of ${earlier.what}` };
  const what = `reuse of ${earlier.what}'s id`;
  if (earlier.kind === 'void' || random.chance(0.5))
    return { ...earlier, retry: true, what, reference: 'another' };
  const amount = (earlier.amount ?? 0n) + 1n;
  return { ...earlier, retry: true, what, amount } as Spec;
}

/** The request one side sends: ids through `idOf`, accounts through `accounts`. */
export function toRequest(
  spec: Spec,
  idOf: (id: string) => string,
  accounts: Record<AccountName, string>,
): LedgerRequest {
  const common = {
    id: idOf(spec.id),
    ...(spec.reference === undefined ? {} : { reference: spec.reference }),
    ...(spec.linked ? { linked: true } : {}),
  };
  if (isMoveSpec(spec))
    return {
      ...common,
      kind: spec.kind,
      debitAccountId: accounts[spec.debit],
      creditAccountId: accounts[spec.credit],
      amount: spec.amount,
      currency: spec.currency,
      ...(spec.timeoutSeconds === undefined ? {} : { timeoutSeconds: spec.timeoutSeconds }),
    };
  return {
    ...common,
    kind: spec.kind,
    pendingId: idOf(spec.pending),
    ...(spec.amount === undefined ? {} : { amount: spec.amount }),
  };
}
