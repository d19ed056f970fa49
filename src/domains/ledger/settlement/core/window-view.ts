/**
 * One window out of its shards' rows, and its net positions out of its shards' flows (decision
 * 51): the arithmetic of settlement, kept apart from the SQL that reads the figures.
 */
import type { AccountFlow, ShardWindowRow, WindowTransfer } from '../store/settlement-store.ts';
import {
  type SettlementWindow,
  type WindowKey,
  type WindowPosition,
  type WindowState,
  windowIdOf,
} from './settlement-types.ts';

/** One basis point is 1/10,000 of the volume. */
export const BASIS_POINTS_PER_UNIT = 10_000n;

/** The window `key` as its shards hold it (`rows`: one per shard that has it, at least one). */
export function windowFrom(key: WindowKey, rows: readonly ShardWindowRow[]): SettlementWindow {
  const first = rows[0];
  if (first === undefined) throw new Error(`window ${windowIdOf(key)} has no shard rows`);
  const shardsClosed = rows.filter((row) => row.state !== 'open').length;
  const shardsSettled = rows.filter((row) => row.state === 'settled').length;
  const completed = rows.find((row) => row.completedAt !== null);
  const state: WindowState =
    shardsSettled === rows.length
      ? 'settled'
      : shardsSettled > 0
        ? 'pending_settlement'
        : completed !== undefined && shardsClosed === rows.length
          ? 'closed'
          : 'open';
  const times = (pick: (row: ShardWindowRow) => Date | null) =>
    rows.map(pick).filter((at): at is Date => at !== null);
  const settled = times((row) => row.settledAt);
  return {
    id: windowIdOf(key),
    counterparty: key.counterparty,
    number: key.number,
    state,
    openedAt: new Date(Math.min(...times((row) => row.openedAt).map((at) => at.getTime()))),
    closedAt: completed?.completedAt ?? null,
    settledAt:
      state === 'settled' ? new Date(Math.max(...settled.map((at) => at.getTime()))) : null,
    reserveBasisPoints: completed?.reserveBasisPoints ?? null,
    shardCount: rows.length,
    shardsClosed,
    shardsSettled,
  };
}

/** What one shard holds of a window's figures. */
export interface ShardFigures {
  readonly flows: readonly AccountFlow[];
  readonly transfers: readonly WindowTransfer[];
}

/**
 * The window's net positions per currency over every shard, by currency code: its flow, the
 * reserve the close held back (what the reserve transfers debited), and what is left to settle.
 */
export function positionsFrom(shards: readonly ShardFigures[]): WindowPosition[] {
  const byCurrency = new Map<
    string,
    { debits: bigint; credits: bigint; transferCount: bigint; reserve: bigint }
  >();
  const entry = (currency: string) => {
    let found = byCurrency.get(currency);
    if (found === undefined) {
      found = { debits: 0n, credits: 0n, transferCount: 0n, reserve: 0n };
      byCurrency.set(currency, found);
    }
    return found;
  };
  for (const shard of shards) {
    for (const flow of shard.flows) {
      const sums = entry(flow.currency);
      sums.debits += flow.debits;
      sums.credits += flow.credits;
      sums.transferCount += flow.transfers;
    }
    for (const transfer of shard.transfers) {
      if (transfer.purpose === 'reserve') entry(transfer.currency).reserve -= transfer.amount;
    }
  }
  return [...byCurrency.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([currency, sums]) => ({
      currency,
      ...sums,
      net: sums.credits - sums.debits,
      settlementAmount: sums.credits - sums.debits - sums.reserve,
    }));
}

/** The reserve a close holds back in one currency: `basisPoints` of the volume, rounded down. */
export function reserveOf(position: WindowPosition, basisPoints: number): bigint {
  return ((position.debits + position.credits) * BigInt(basisPoints)) / BASIS_POINTS_PER_UNIT;
}

/**
 * What settling one settlement account moves, signed as it moves that account: the opposite of
 * its net flow in the window and of the reserve taken from it, so that afterwards the window
 * has moved it by nothing.
 */
export function settlementMovesOf(
  flows: readonly AccountFlow[],
  transfers: readonly WindowTransfer[],
): { readonly accountId: string; readonly currency: string; readonly amount: bigint }[] {
  const moves = new Map<string, { currency: string; amount: bigint }>();
  const add = (accountId: string, currency: string, amount: bigint) => {
    const found = moves.get(accountId);
    if (found === undefined) moves.set(accountId, { currency, amount });
    else found.amount += amount;
  };
  for (const flow of flows) add(flow.accountId, flow.currency, flow.debits - flow.credits);
  for (const transfer of transfers) {
    if (transfer.purpose === 'reserve')
      add(transfer.accountId, transfer.currency, -transfer.amount);
  }
  return [...moves.entries()]
    .filter(([, move]) => move.amount !== 0n)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([accountId, move]) => ({ accountId, ...move }));
}

/** A window as JSON can keep it (the answer an idempotency record stores). */
export interface StoredWindow {
  readonly window: Record<string, unknown>;
  readonly positions: readonly Record<string, string>[];
}

/** {@link SettlementWindow} and its positions in a JSON-safe form: bigints as decimal strings. */
export function storedWindowOf(
  window: SettlementWindow,
  positions: readonly WindowPosition[],
): StoredWindow {
  return {
    window: {
      ...window,
      number: window.number.toString(),
      openedAt: window.openedAt.toISOString(),
      closedAt: window.closedAt?.toISOString() ?? null,
      settledAt: window.settledAt?.toISOString() ?? null,
    },
    positions: positions.map((position) => ({
      currency: position.currency,
      debits: position.debits.toString(),
      credits: position.credits.toString(),
      net: position.net.toString(),
      transferCount: position.transferCount.toString(),
      reserve: position.reserve.toString(),
      settlementAmount: position.settlementAmount.toString(),
    })),
  };
}

/** The inverse of {@link storedWindowOf}. */
export function windowOfStored(stored: StoredWindow): {
  window: SettlementWindow;
  positions: WindowPosition[];
} {
  const w = stored.window;
  const date = (value: unknown) => (typeof value === 'string' ? new Date(value) : null);
  return {
    window: {
      id: String(w.id),
      counterparty: String(w.counterparty),
      number: BigInt(String(w.number)),
      state: w.state as WindowState,
      openedAt: new Date(String(w.openedAt)),
      closedAt: date(w.closedAt),
      settledAt: date(w.settledAt),
      reserveBasisPoints: typeof w.reserveBasisPoints === 'number' ? w.reserveBasisPoints : null,
      shardCount: Number(w.shardCount),
      shardsClosed: Number(w.shardsClosed),
      shardsSettled: Number(w.shardsSettled),
    },
    positions: stored.positions.map((p) => ({
      currency: String(p.currency),
      debits: BigInt(String(p.debits)),
      credits: BigInt(String(p.credits)),
      net: BigInt(String(p.net)),
      transferCount: BigInt(String(p.transferCount)),
      reserve: BigInt(String(p.reserve)),
      settlementAmount: BigInt(String(p.settlementAmount)),
    })),
  };
}
