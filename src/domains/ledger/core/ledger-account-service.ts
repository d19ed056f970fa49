import { isEntityId, newEntityId, taggedBucket } from '../../../data/entity-id.ts';
import { fingerprintOf, onceInTransaction } from '../../../data/idempotency.ts';
import type { Queryable, Router } from '../../../data/router.ts';
import type { Page, WriteAnswer, WriteContext } from '../../../data/write-contract.ts';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import {
  insertLedgerAccount,
  readLedgerTotalsAt,
  type TotalsAt,
} from '../store/ledger-accounts.ts';
import type { HistoryPart } from '../store/ledger-bucket-carry.ts';
import { partAt, readHistory, readStatement } from '../store/ledger-statement.ts';
import type { LedgerTotals, StatementLine } from './ledger-types.ts';

/** Accounts a customer holds: never striped, guarded unless told otherwise. */
export const CUSTOMER_ACCOUNT_KINDS = ['deposit', 'wallet'] as const;
export type CustomerAccountKind = (typeof CUSTOMER_ACCOUNT_KINDS)[number];

/** The institution's own accounts: striped over every shard (decision 49). */
export const INSTITUTION_ACCOUNT_KINDS = [
  'settlement',
  'fees',
  'risk_reserve',
  'suspense',
  'card_receivable',
  'in_transit',
] as const;
export type InstitutionAccountKind = (typeof INSTITUTION_ACCOUNT_KINDS)[number];

/** Which side an account may not overdraw. */
export const ACCOUNT_GUARDS = [
  'debits_must_not_exceed_credits',
  'credits_must_not_exceed_debits',
  'none',
] as const;
export type AccountGuard = (typeof ACCOUNT_GUARDS)[number];

/** Stripes of an institution account on each shard unless configured. */
export const STRIPES_PER_SHARD_DEFAULT = 4;
const STRIPES_PER_SHARD_MAX = 64;
const CODE_PATTERN = /^[a-z0-9][a-z0-9_.:-]{0,127}$/;
const OWNER_LENGTH_MAX = 255;

/** One account with its totals and the balances read from them. */
export interface LedgerAccount extends LedgerTotals {
  readonly id: string;
  readonly currency: string;
  readonly kind: string;
  readonly ownerId: string | null;
  readonly guard: AccountGuard;
  readonly closed: boolean;
  /** For a stripe of an institution account: its code and the stripe's number; else `null`. */
  readonly code: string | null;
  readonly stripe: number | null;
  /** Credits minus debits, posted. */
  readonly balance: bigint;
  /** What may still be debited: credits posted minus debits posted and pending. */
  readonly available: bigint;
  /** How many postings the account has (its last `seq`). */
  readonly postingCount: bigint;
}

/** An institution account: its stripes on every shard, and their sums. */
export interface InstitutionAccount extends LedgerTotals {
  readonly code: string;
  readonly currency: string;
  readonly kind: InstitutionAccountKind;
  readonly counterparty: string | null;
  readonly stripes: readonly { readonly shardId: number; readonly id: string }[];
  readonly balance: bigint;
}

export type { StatementLine } from './ledger-types.ts';

/** A row of `ledger_accounts` as {@link ACCOUNT_COLUMNS} reads it. */
export type AccountRow = {
  id: string;
  currency: string;
  kind: string;
  owner_id: string | null;
  debits_must_not_exceed_credits: boolean;
  credits_must_not_exceed_debits: boolean;
  closed: boolean;
  code: string | null;
  stripe: number | null;
  debits_posted: string;
  credits_posted: string;
  debits_pending: string;
  credits_pending: string;
  last_seq: string;
};
export const ACCOUNT_COLUMNS =
  'id, currency, kind, owner_id, debits_must_not_exceed_credits, ' +
  'credits_must_not_exceed_debits, closed, code, stripe, debits_posted, credits_posted, debits_pending, ' +
  'credits_pending, last_seq';

/**
 * Ledger accounts (decision 49). A customer's account is one row on the shard of its owner's id
 * (or of its creation key), guarded by default so it never goes below zero. An institution
 * account is a set of stripes, `stripesPerShard` on every shard, so that a payment touches the
 * stripe beside the payer and no single row lock serialises the traffic; its balance is their
 * sum. Stripes never change once opened, so their ids are cached per process.
 */
export class LedgerAccountService {
  readonly #router: Router;
  readonly #stripesPerShard: number;
  /** `code currency` -> shard -> stripe ids. */
  readonly #stripes = new Map<string, Map<number, readonly string[]>>();

  constructor(router: Router, options: { readonly stripesPerShard?: number } = {}) {
    const stripes = options.stripesPerShard ?? STRIPES_PER_SHARD_DEFAULT;
    if (!Number.isSafeInteger(stripes) || stripes < 1 || stripes > STRIPES_PER_SHARD_MAX)
      throw new RangeError(`stripesPerShard must be 1..${STRIPES_PER_SHARD_MAX}, got ${stripes}`);
    this.#router = router;
    this.#stripesPerShard = stripes;
  }

  /** Opens a customer's account in `currency`, guarded as asked (debits within credits). */
  async openAccount(
    input: {
      readonly currency: string;
      readonly kind: CustomerAccountKind;
      readonly ownerId?: string;
      readonly guard?: AccountGuard;
    },
    context: WriteContext,
  ): Promise<WriteAnswer<LedgerAccount>> {
    await this.#assertCurrency(input.currency);
    if (input.ownerId !== undefined) assertOwner(input.ownerId);
    const guard = input.guard ?? 'debits_must_not_exceed_credits';
    const ownerBucket = input.ownerId === undefined ? null : taggedBucket(input.ownerId);
    const bucket =
      ownerBucket !== null && ownerBucket < this.#router.map.snapshot.bucketCount
        ? ownerBucket
        : this.#router.map.bucketOf(`ledger_account_open:${context.idempotencyKey}`);
    const id = newEntityId('lacc', bucket);
    const claim = {
      scope: 'ledger_account_open',
      key: context.idempotencyKey,
      fingerprint: fingerprintOf({ ...input, guard }),
    };
    const result = await this.#router.write(
      id,
      (tx) =>
        onceInTransaction(tx, claim, async () => {
          await insertLedgerAccount(tx, {
            id,
            currency: input.currency,
            kind: input.kind,
            ...(input.ownerId === undefined ? {} : { ownerId: input.ownerId }),
            debitsMustNotExceedCredits: guard === 'debits_must_not_exceed_credits',
            creditsMustNotExceedDebits: guard === 'credits_must_not_exceed_debits',
          });
          return { statusCode: 201, body: await readAccountRow(tx, id) };
        }),
      { token: context.token ?? null },
    );
    return {
      value: accountOf(result.value.body),
      token: result.token,
      replayed: result.value.replayed,
    };
  }

  /**
   * Opens (or completes) an institution account: its stripes on every shard, each shard in its
   * own transaction. Safe to repeat: a stripe that exists is kept, so a call cut short by a
   * failure is finished by the next.
   */
  async openInstitutionAccount(input: {
    readonly code: string;
    readonly kind: InstitutionAccountKind;
    readonly currency: string;
    readonly counterparty?: string;
  }): Promise<InstitutionAccount> {
    if (!CODE_PATTERN.test(input.code))
      throw invalid(
        '/code',
        'must be 1-128 of a-z, 0-9, and _ . : - (starting with a letter or digit)',
      );
    if (input.counterparty !== undefined) assertOwner(input.counterparty, '/counterparty');
    if (input.kind === 'settlement' && input.counterparty === undefined)
      throw invalid('/counterparty', 'a settlement account names its counterparty');
    await this.#assertCurrency(input.currency);
    const map = this.#router.map;
    for (const shardId of map.shardIds) {
      const bucket = bucketsOfShard(this.#router, shardId)[0] as number;
      await this.#router.writeToShard(shardId, async (tx) => {
        for (let stripe = 0; stripe < this.#stripesPerShard; stripe += 1) {
          await insertStripe(tx, input, stripe, newEntityId('lacc', bucket));
        }
      });
    }
    this.#stripes.delete(`${input.code} ${input.currency}`);
    return this.institutionAccount(input.code, input.currency);
  }

  /** The stripes of `code` in `currency` on `shardId` (from the cache after the first read). */
  async stripesOn(code: string, currency: string, shardId: number): Promise<readonly string[]> {
    const key = `${code} ${currency}`;
    let byShard = this.#stripes.get(key);
    if (byShard === undefined) {
      byShard = new Map();
      this.#stripes.set(key, byShard);
    }
    const known = byShard.get(shardId);
    if (known !== undefined && known.length > 0) return known;
    const { value } = await this.#router.readShard(
      shardId,
      (db) =>
        db.query<{ id: string }>(
          `SELECT id FROM public.ledger_accounts WHERE code = $1 AND currency = $2 ORDER BY stripe`,
          [code, currency],
        ),
      { consistency: 'primary' },
    );
    const ids = value.rows.map((row) => row.id);
    if (ids.length === 0)
      throw new MainstayError(
        'resource_not_found',
        `no institution account ${code} in ${currency}`,
      );
    byShard.set(shardId, ids);
    return ids;
  }

  /** A stripe of `code` on the shard of `nearKey`, spread by `spread` (any integer). */
  async stripeNear(
    code: string,
    currency: string,
    nearKey: string,
    spread: number,
  ): Promise<string> {
    const ids = await this.stripesOn(code, currency, this.#router.map.shardOf(nearKey));
    return ids[Math.abs(spread) % ids.length] as string;
  }

  /** One account with its balances (`resource_not_found` when there is none). */
  async getAccount(id: string, token?: string | null): Promise<LedgerAccount> {
    this.#assertCanExist(id);
    const { value } = await this.#router.read(id, (db) => readAccountRowOrNull(db, id), {
      token: token ?? null,
    });
    if (value === null) throw notFound(id);
    return accountOf(value);
  }

  /** An institution account: every stripe on every shard, read on the primaries, summed. */
  async institutionAccount(code: string, currency: string): Promise<InstitutionAccount> {
    const parts = await Promise.all(
      this.#router.map.shardIds.map(async (shardId) => {
        const { value } = await this.#router.readShard(
          shardId,
          (db) =>
            db.query<AccountRow & { code: string }>(
              `SELECT ${ACCOUNT_COLUMNS} FROM public.ledger_accounts
                WHERE code = $1 AND currency = $2 ORDER BY stripe`,
              [code, currency],
            ),
          { consistency: 'primary' },
        );
        return value.rows.map((row) => ({ shardId, row }));
      }),
    );
    const rows = parts.flat();
    const first = rows[0]?.row;
    if (first === undefined)
      throw new MainstayError(
        'resource_not_found',
        `no institution account ${code} in ${currency}`,
      );
    const sum = (pick: (row: AccountRow) => string) =>
      rows.reduce((total, { row }) => total + BigInt(pick(row)), 0n);
    const totals = {
      debitsPosted: sum((row) => row.debits_posted),
      creditsPosted: sum((row) => row.credits_posted),
      debitsPending: sum((row) => row.debits_pending),
      creditsPending: sum((row) => row.credits_pending),
    };
    return {
      code,
      currency,
      kind: first.kind as InstitutionAccountKind,
      counterparty: first.owner_id,
      stripes: rows.map(({ shardId, row }) => ({ shardId, id: row.id })),
      ...totals,
      balance: totals.creditsPosted - totals.debitsPosted,
    };
  }

  /**
   * The account's totals as they were at `at`: one index probe, whatever its history, on the
   * shard that held the account then (an account a bucket move carried has its earlier postings
   * on the shards it left; decision 58). The balance is continuous across a move; the totals
   * are those of that shard's part.
   */
  async balanceAt(
    id: string,
    at: Date,
    token?: string | null,
  ): Promise<TotalsAt & { balance: bigint }> {
    this.#assertCanExist(id);
    const { value } = await this.#router.read(
      id,
      async (db) => {
        const history = await readHistory(db, id);
        if (history === null) return null;
        const part = partAt(history, at);
        return part === null ? readLedgerTotalsAt(db, id, at) : part;
      },
      { token: token ?? null },
    );
    if (value === null) throw notFound(id);
    const totals =
      'shard' in value
        ? (
            await this.#router.readShard(value.shard, (db) => readLedgerTotalsAt(db, id, at), {
              consistency: 'primary',
            })
          ).value
        : value;
    return { ...totals, balance: totals.creditsPosted - totals.debitsPosted };
  }

  /**
   * A page of the account's statement, newest first: postings before the cursor, found
   * through the primary key, never by a scan. An account a bucket move carried continues into
   * its parts on the shards it left, newest first (a cursor `<part>.<seq>` names one).
   */
  async statement(
    id: string,
    page: { readonly startingAfter?: string; readonly limit: number },
    token?: string | null,
  ): Promise<Page<StatementLine>> {
    this.#assertCanExist(id);
    const cursor = page.startingAfter === undefined ? null : cursorOf(page.startingAfter);
    const wanted = page.limit + 1;
    const { value } = await this.#router.read(
      id,
      async (db) => {
        const history = await readHistory(db, id);
        if (history === null) return null;
        const here =
          (cursor?.part ?? 0) === 0
            ? await readStatement(db, id, history.firstSeq, null, cursor?.seq ?? null, wanted)
            : [];
        return { history, here };
      },
      { token: token ?? null },
    );
    if (value === null) throw notFound(id);
    const lines = value.here.map((line) => ({ part: 0, line }));
    for (let part = Math.max(1, cursor?.part ?? 0); part <= value.history.parts.length; part += 1) {
      if (lines.length >= wanted) break;
      const earlier = value.history.parts[part - 1] as HistoryPart;
      const before = cursor?.part === part ? cursor.seq : null;
      const { value: read } = await this.#router.readShard(
        earlier.shard,
        (db) =>
          readStatement(db, id, BigInt(earlier.fromSeq), BigInt(earlier.toSeq), before, wanted),
        { consistency: 'primary' },
      );
      lines.push(...read.map((line) => ({ part, line })));
    }
    const shown = lines.slice(0, page.limit);
    const hasMore = lines.length > page.limit;
    const last = shown.at(-1);
    return {
      data: shown.map(({ line }) => line),
      hasMore,
      nextCursor:
        hasMore && last
          ? last.part === 0
            ? last.line.seq.toString()
            : `${last.part}.${last.line.seq}`
          : null,
    };
  }

  async #assertCurrency(currency: string): Promise<void> {
    if (!/^[A-Z]{3}$/.test(currency)) throw invalid('/currency', 'must be an ISO 4217 code');
    const { value } = await this.#router.readShard(
      this.#router.map.shardIds[0] as number,
      (db) => db.query('SELECT 1 FROM public.ledger_currencies WHERE code = $1', [currency]),
      { consistency: 'any' },
    );
    if (value.rowCount !== 1)
      throw new MainstayError(
        'currency_unsupported',
        `currency ${currency} is not an ISO 4217 code`,
      );
  }

  #assertCanExist(id: string): void {
    const bucket = isEntityId(id, 'lacc') ? taggedBucket(id) : null;
    if (bucket === null || bucket >= this.#router.map.snapshot.bucketCount) throw notFound(id);
  }
}

/** The buckets of `shardId`, in order. */
function bucketsOfShard(router: Router, shardId: number): number[] {
  return router.map.snapshot.buckets
    .filter((range) => range.shardId === shardId)
    .map((range) => range.first);
}

async function insertStripe(
  tx: Queryable,
  input: { code: string; kind: string; currency: string; counterparty?: string },
  stripe: number,
  id: string,
): Promise<void> {
  const { rowCount } = await tx.query(
    `SELECT 1 FROM public.ledger_accounts WHERE code = $1 AND currency = $2 AND stripe = $3`,
    [input.code, input.currency, stripe],
  );
  if (rowCount === 1) return;
  await insertLedgerAccount(tx, {
    id,
    currency: input.currency,
    kind: input.kind,
    ...(input.counterparty === undefined ? {} : { ownerId: input.counterparty }),
    stripe: { code: input.code, number: stripe },
  });
}

async function readAccountRowOrNull(db: Queryable, id: string): Promise<AccountRow | null> {
  const { rows } = await db.query<AccountRow>(
    `SELECT ${ACCOUNT_COLUMNS} FROM public.ledger_accounts WHERE id = $1`,
    [id],
  );
  return rows[0] ?? null;
}

async function readAccountRow(db: Queryable, id: string): Promise<AccountRow> {
  const row = await readAccountRowOrNull(db, id);
  if (row === null) throw new Error(`ledger account ${id} vanished in its own transaction`);
  return row;
}

export function accountOf(row: AccountRow): LedgerAccount {
  const debitsPosted = BigInt(row.debits_posted);
  const creditsPosted = BigInt(row.credits_posted);
  const debitsPending = BigInt(row.debits_pending);
  return {
    id: row.id,
    currency: row.currency,
    kind: row.kind,
    ownerId: row.owner_id,
    guard: row.debits_must_not_exceed_credits
      ? 'debits_must_not_exceed_credits'
      : row.credits_must_not_exceed_debits
        ? 'credits_must_not_exceed_debits'
        : 'none',
    closed: row.closed,
    code: row.code,
    stripe: row.stripe,
    debitsPosted,
    creditsPosted,
    debitsPending,
    creditsPending: BigInt(row.credits_pending),
    balance: creditsPosted - debitsPosted,
    available: creditsPosted - debitsPosted - debitsPending,
    postingCount: BigInt(row.last_seq),
  };
}

/** A statement cursor: `<seq>` on the account's shard, `<part>.<seq>` in an earlier part. */
function cursorOf(cursor: string): { readonly part: number; readonly seq: bigint } {
  const match = /^(?:([1-9][0-9]{0,3})\.)?([1-9][0-9]{0,18})$/.exec(cursor);
  if (match === null) throw invalid('/startingAfter', 'must be a cursor from a page');
  return { part: match[1] === undefined ? 0 : Number(match[1]), seq: BigInt(match[2] as string) };
}

function assertOwner(owner: string, pointer = '/ownerId'): void {
  if (owner.length < 1 || owner.length > OWNER_LENGTH_MAX || owner.includes('\u0000'))
    throw invalid(pointer, `must be 1-${OWNER_LENGTH_MAX} characters`);
}

function invalid(pointer: string, detail: string): MainstayError {
  return new MainstayError('invalid_request', `${pointer.slice(1)} ${detail}`, {
    errors: [{ pointer, detail }],
  });
}

function notFound(id: string): MainstayError {
  return new MainstayError('resource_not_found', `there is no ledger account ${id}`);
}
