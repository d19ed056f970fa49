/**
 * Closing and settling a window over every shard (decision 51). Every step is idempotent on
 * its own (0004's close, a close record and a shard's settled mark written in the transaction
 * of the transfers they stand for, transfer ids derived from the window), so a step cut short
 * by a crash is finished by repeating the call.
 */
import { createHash } from 'node:crypto';
import { fingerprintOf, onceInTransaction } from '../../../../data/idempotency.ts';
import type { Queryable, Router } from '../../../../data/router.ts';
import type { WriteAnswer, WriteContext } from '../../../../data/write-contract.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import type { MoveRequest } from '../../core/ledger-types.ts';
import { applyLedgerBatch } from '../../store/ledger-batch.ts';
import {
  closeWindowOnShard,
  insertWindowClose,
  insertWindowTransfers,
  lockWindowClose,
  lockWindowRow,
  markWindowSettled,
  readIdempotencyRecord,
  readWindowClose,
  readWindowFlow,
  readWindowHead,
  readWindowRow,
  readWindowTransfers,
  type ShardWindowRow,
  settlementAccountsOn,
  stripesOn,
  type WindowTransfer,
} from '../store/settlement-store.ts';
import {
  type SettlementWindow,
  type WindowKey,
  type WindowPosition,
  windowIdOf,
} from './settlement-types.ts';
import {
  positionsFrom,
  reserveOf,
  type ShardFigures,
  type StoredWindow,
  settlementMovesOf,
  storedWindowOf,
  windowFrom,
  windowOfStored,
} from './window-view.ts';

/** What settlement is configured with (the `ledger.settlement` config section). */
export interface SettlementSettings {
  /** The reserve's share of a window's volume (debits + credits), in basis points (0-10,000). */
  readonly reserveBasisPoints: number;
  /** The institution account (kind `risk_reserve`) the reserve is posted to. */
  readonly reserveAccountCode: string;
  /** The institution account the settled net goes to or comes from (the settlement bank). */
  readonly bankAccountCode: string;
}

/** A window with its net positions, as closing, settling and the positions route answer. */
export interface WindowReport {
  readonly window: SettlementWindow;
  readonly positions: readonly WindowPosition[];
}

/** What settling answers: the window, its positions, and how each shard was settled. */
export interface SettlementReport extends WindowReport {
  readonly shards: readonly ShardSettlement[];
}

/** How one shard was settled. */
export interface ShardSettlement {
  readonly shardId: number;
  readonly status: 'settled' | 'already_settled' | 'refused';
  /** Settlement transfers this call posted on the shard. */
  readonly transferCount: number;
  /** The transfers refused (nothing of the shard was written). */
  readonly refusals: readonly { readonly transferId: string; readonly status: string }[];
}

/** What the two steps need of the service. */
export interface SettlementDeps {
  readonly router: Router;
  readonly settings: SettlementSettings;
  homeShard(counterparty: string): number;
  homeKey(counterparty: string): string;
  /** The window's row on each shard, in shard order (`null` where a shard has none). */
  rowsByShard(key: WindowKey): Promise<{ shardId: number; row: ShardWindowRow | null }[]>;
  /** The window's figures on each shard, in shard order. */
  figures(key: WindowKey): Promise<(ShardFigures & { readonly shardId: number })[]>;
}

/** Closes `key` everywhere, then posts its reserve and records the close (see the service). */
export async function closeWindow(
  deps: SettlementDeps,
  key: WindowKey,
  context: WriteContext,
): Promise<WriteAnswer<WindowReport>> {
  const claim = claimOf('ledger_window_close', key, context);
  const replay = await storedAnswer<StoredWindow>(deps, key, claim, context);
  if (replay !== null) return { ...replay, value: windowOfStored(replay.value) };
  await assertCloseable(deps, key);
  for (const shardId of deps.router.map.shardIds) {
    await deps.router.writeToShard(shardId, (tx) => closeWindowOnShard(tx, key));
  }
  const figures = await deps.figures(key);
  const rows = await deps.rowsByShard(key);
  const home = deps.homeShard(key.counterparty);
  const written = await deps.router.write(
    deps.homeKey(key.counterparty),
    (tx) =>
      onceInTransaction(tx, claim, async () => {
        await lockWindowClose(tx, key);
        if ((await readWindowClose(tx, key)) === null) {
          await postReserves(tx, deps.settings, key, positionsFrom(figures)).catch((error) => {
            if (!(error instanceof SettlementRefused)) throw error;
            const refused = error.refusals.map((r) => `${r.transferId} ${r.status}`).join(', ');
            throw new MainstayError('state_conflict', `the reserve was refused: ${refused}`);
          });
          await insertWindowClose(tx, key, deps.settings.reserveBasisPoints);
        }
        const homeRow = await readWindowRow(tx, key);
        const homeTransfers = await readWindowTransfers(tx, key);
        const after = rows.map(({ shardId, row }) => (shardId === home ? homeRow : row));
        const shardFigures = figures.map((f) =>
          f.shardId === home ? { ...f, transfers: homeTransfers } : f,
        );
        const window = windowFrom(key, after.filter(isRow));
        return { statusCode: 200, body: storedWindowOf(window, positionsFrom(shardFigures)) };
      }),
    { token: context.token ?? null },
  );
  return {
    value: windowOfStored(written.value.body),
    token: written.token,
    replayed: written.value.replayed,
  };
}

/** Settles closed window `key`, shard by shard (see the service). */
export async function settleWindow(
  deps: SettlementDeps,
  key: WindowKey,
  context: WriteContext,
): Promise<WriteAnswer<SettlementReport>> {
  type Stored = StoredWindow & { shards: ShardSettlement[] };
  const claim = claimOf('ledger_window_settle', key, context);
  const replay = await storedAnswer<Stored>(deps, key, claim, context);
  if (replay !== null)
    return { ...replay, value: { ...windowOfStored(replay.value), shards: replay.value.shards } };
  const before = await deps.rowsByShard(key);
  const present = before.filter((entry) => entry.row !== null);
  if (present.length === 0) throw notFound(key);
  if (windowFrom(key, present.map((entry) => entry.row).filter(isRow)).state === 'open')
    throw new MainstayError(
      'state_conflict',
      `settlement window ${windowIdOf(key)} is open: close it first (a close cut short is finished by repeating it)`,
    );
  const shards: ShardSettlement[] = [];
  for (const { shardId } of present) shards.push(await settleShard(deps, key, shardId));
  const after = (await deps.rowsByShard(key)).map((entry) => entry.row).filter(isRow);
  const stored: Stored = {
    ...storedWindowOf(windowFrom(key, after), positionsFrom(await deps.figures(key))),
    shards,
  };
  const written = await deps.router.write(
    deps.homeKey(key.counterparty),
    (tx) => onceInTransaction(tx, claim, async () => ({ statusCode: 200, body: stored })),
    { token: context.token ?? null },
  );
  return {
    value: { ...windowOfStored(written.value.body), shards: written.value.body.shards },
    token: written.token,
    replayed: written.value.replayed,
  };
}

/** Thrown inside a shard's transaction to roll it back when a settlement transfer is refused. */
class SettlementRefused extends Error {
  readonly refusals: ShardSettlement['refusals'];
  constructor(refusals: ShardSettlement['refusals']) {
    super('a settlement transfer was refused');
    this.refusals = refusals;
  }
}

async function settleShard(
  deps: SettlementDeps,
  key: WindowKey,
  shardId: number,
): Promise<ShardSettlement> {
  try {
    const { value } = await deps.router.writeToShard(shardId, async (tx) => {
      const state = await lockWindowRow(tx, key);
      if (state === 'settled')
        return { shardId, status: 'already_settled' as const, transferCount: 0, refusals: [] };
      if (state !== 'closed')
        throw new MainstayError(
          'state_conflict',
          `settlement window ${windowIdOf(key)} is ${state ?? 'missing'} on shard ${shardId}`,
        );
      const moves = settlementMovesOf(
        await readWindowFlow(tx, key),
        await readWindowTransfers(tx, key),
      );
      const records: WindowTransfer[] = [];
      const requests: MoveRequest[] = [];
      const banksOf = new Map<string, string[]>();
      for (const [index, move] of moves.entries()) {
        const banks =
          banksOf.get(move.currency) ??
          (await requireStripes(tx, deps.settings.bankAccountCode, move.currency, 'bank'));
        banksOf.set(move.currency, banks);
        const bank = banks[index % banks.length] as string;
        const id = derivedTransferId('settlement', key, move.accountId);
        const amount = move.amount < 0n ? -move.amount : move.amount;
        requests.push({
          kind: 'transfer',
          id,
          debitAccountId: move.amount < 0n ? move.accountId : bank,
          creditAccountId: move.amount < 0n ? bank : move.accountId,
          amount,
          currency: move.currency,
          reference: `settlement of window ${key.number}`,
          linked: index < moves.length - 1,
        });
        records.push({ transferId: id, purpose: 'settlement', ...move });
      }
      await applyAll(tx, requests);
      await insertWindowTransfers(tx, key, records);
      await markWindowSettled(tx, key);
      return { shardId, status: 'settled' as const, transferCount: requests.length, refusals: [] };
    });
    return value;
  } catch (error) {
    if (error instanceof SettlementRefused)
      return { shardId, status: 'refused', transferCount: 0, refusals: error.refusals };
    throw error;
  }
}

/**
 * Posts the reserve of each currency of the window, `reserveOf` its volume, from the
 * counterparty's first settlement account on the home shard to a stripe of the risk reserve
 * there, and records each transfer as the window's, in the caller's transaction.
 */
async function postReserves(
  tx: Queryable,
  settings: SettlementSettings,
  key: WindowKey,
  positions: readonly WindowPosition[],
): Promise<void> {
  const requests: MoveRequest[] = [];
  const records: WindowTransfer[] = [];
  for (const position of positions) {
    const reserve = reserveOf(position, settings.reserveBasisPoints);
    if (reserve === 0n) continue;
    const [account] = await settlementAccountsOn(tx, key.counterparty, position.currency);
    if (account === undefined)
      throw new MainstayError(
        'state_conflict',
        `the counterparty of ${windowIdOf(key)} has no open settlement account in ${position.currency} on its home shard`,
      );
    const reserves = await requireStripes(
      tx,
      settings.reserveAccountCode,
      position.currency,
      'reserve',
    );
    const id = derivedTransferId('reserve', key, position.currency);
    requests.push({
      kind: 'transfer',
      id,
      debitAccountId: account,
      creditAccountId: reserves[Number(key.number % BigInt(reserves.length))] as string,
      amount: reserve,
      currency: position.currency,
      reference: `reserve of window ${key.number}`,
      linked: true,
    });
    records.push({
      transferId: id,
      purpose: 'reserve',
      accountId: account,
      currency: position.currency,
      amount: -reserve,
    });
  }
  const last = requests.pop();
  if (last !== undefined) requests.push({ ...last, linked: false });
  await applyAll(tx, requests);
  await insertWindowTransfers(tx, key, records);
}

/** Applies `requests` (one linked chain) in `tx`; any refusal rolls the transaction back. */
async function applyAll(tx: Queryable, requests: readonly MoveRequest[]): Promise<void> {
  if (requests.length === 0) return;
  const outcomes = await applyLedgerBatch(tx, requests);
  const refused = outcomes.filter((outcome) => outcome.status !== 'posted');
  if (refused.length > 0)
    throw new SettlementRefused(refused.map((o) => ({ transferId: o.id, status: o.status })));
}

async function requireStripes(
  tx: Queryable,
  code: string,
  currency: string,
  role: 'bank' | 'reserve',
): Promise<string[]> {
  const stripes = await stripesOn(tx, code, currency);
  if (stripes.length === 0)
    throw new MainstayError(
      'state_conflict',
      `there is no open ${role === 'bank' ? 'settlement bank' : 'risk reserve'} account ${code} in ${currency}: open it as an institution account and repeat`,
    );
  return stripes;
}

/**
 * Refuses a close that cannot complete, before anything is written: `resource_not_found` when
 * no shard has the window, `state_conflict` when a shard has not reached it yet.
 */
async function assertCloseable(deps: SettlementDeps, key: WindowKey): Promise<void> {
  const heads = await Promise.all(
    deps.router.map.shardIds.map(async (shardId) => {
      const { value } = await deps.router.readShard(
        shardId,
        (db) => readWindowHead(db, key.counterparty),
        { consistency: 'primary' },
      );
      return { shardId, head: value };
    }),
  );
  const known = heads.filter((entry) => entry.head !== null);
  if (known.length === 0 || known.every((entry) => (entry.head as bigint) < key.number))
    throw notFound(key);
  const behind = known.find((entry) => (entry.head as bigint) < key.number);
  if (behind !== undefined)
    throw new MainstayError(
      'state_conflict',
      `settlement window ${windowIdOf(key)} is not open yet on shard ${behind.shardId} (it is at window ${behind.head}): close the earlier windows first`,
    );
}

/** The claim of a write under the one write contract, for `scope`. */
function claimOf(scope: string, key: WindowKey, context: WriteContext) {
  return {
    scope,
    key: context.idempotencyKey,
    fingerprint: fingerprintOf({ id: windowIdOf(key) }),
  };
}

/**
 * The stored answer of an earlier call with the same key (read on the home shard before any
 * shard is written), `idempotency_key_reused` for the same key on another call, or `null`.
 */
async function storedAnswer<T>(
  deps: SettlementDeps,
  key: WindowKey,
  claim: ReturnType<typeof claimOf>,
  context: WriteContext,
): Promise<WriteAnswer<T> | null> {
  const { value: record } = await deps.router.readShard(
    deps.homeShard(key.counterparty),
    (db) => readIdempotencyRecord(db, claim.scope, claim.key),
    { consistency: 'primary' },
  );
  if (record === null || record.response === null) return null;
  if (record.fingerprint !== claim.fingerprint)
    throw new MainstayError(
      'idempotency_key_reused',
      `idempotency key "${claim.key}" was already used with a different request`,
    );
  const token = context.token ? deps.router.mergeTokens(context.token) : null;
  return { value: record.response as T, token, replayed: true };
}

/** A settlement flow transfer's id: derived from the window, so a repeat finds its first. */
function derivedTransferId(purpose: 'reserve' | 'settlement', key: WindowKey, of: string): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([purpose, key.counterparty, key.number.toString(), of]))
    .digest('base64url');
  return `${purpose === 'reserve' ? 'rsv' : 'stl'}_${digest}`;
}

function isRow(row: ShardWindowRow | null): row is ShardWindowRow {
  return row !== null;
}

function notFound(key: WindowKey): MainstayError {
  return new MainstayError(
    'resource_not_found',
    `there is no settlement window ${windowIdOf(key)}`,
  );
}
