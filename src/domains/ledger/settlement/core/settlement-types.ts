/**
 * The vocabulary of clearing and settlement (decision 51): a counterparty's settlement windows
 * as one window across every shard, their net positions, and the ids that name them.
 */
import { MainstayError } from '../../../../errors/mainstay-error.ts';

/**
 * Where a window is, across every shard (Mojaloop's states): `open` while postings can still
 * land in it on some shard (a close cut short shows here, with `shardsClosed` below
 * `shardCount`: repeat the close); `closed` once closed on every shard with its reserve posted;
 * `pending_settlement` once settled on some shards; `settled` once settled on all.
 */
export const WINDOW_STATES = ['open', 'closed', 'pending_settlement', 'settled'] as const;
export type WindowState = (typeof WINDOW_STATES)[number];

/** A counterparty's window `number`, the same number on every shard. */
export interface WindowKey {
  readonly counterparty: string;
  readonly number: bigint;
}

/** One window, as the shards hold it. */
export interface SettlementWindow extends WindowKey {
  readonly id: string;
  readonly state: WindowState;
  /** When it opened on its first shard. */
  readonly openedAt: Date;
  /** When its close completed (closed everywhere, reserve posted); `null` before. */
  readonly closedAt: Date | null;
  /** When its last shard was settled; `null` before. */
  readonly settledAt: Date | null;
  /** The reserve share its close applied, in basis points; `null` before the close completed. */
  readonly reserveBasisPoints: number | null;
  readonly shardCount: number;
  readonly shardsClosed: number;
  readonly shardsSettled: number;
}

/**
 * A counterparty's net position in one currency over a window, summed over every shard.
 * `net` is credits minus debits of its settlement accounts: positive, the institution owes the
 * counterparty; negative, the counterparty owes the institution. `settlementAmount` is what
 * settling moves, the net less the reserve the close held back.
 */
export interface WindowPosition {
  readonly currency: string;
  readonly debits: bigint;
  readonly credits: bigint;
  readonly net: bigint;
  /** Postings that moved posted money on the counterparty's settlement accounts. */
  readonly transferCount: bigint;
  readonly reserve: bigint;
  readonly settlementAmount: bigint;
}

const ID_PREFIX = 'swin_';
const ID_PATTERN = /^swin_([A-Za-z0-9_-]{2,1400})\.([1-9][0-9]{0,17})$/;
const COUNTERPARTY_LENGTH_MAX = 255;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A window's id: `swin_`, the counterparty in base64url (UTF-8), a dot, the window number. It
 * is derived, so the same window has the same id on every shard and in every process, and
 * sorts by counterparty.
 */
export function windowIdOf(key: WindowKey): string {
  return `${ID_PREFIX}${Buffer.from(key.counterparty, 'utf8').toString('base64url')}.${key.number}`;
}

/**
 * The window an id names, or `resource_not_found` for anything that is not the canonical id
 * of a window (so a made-up id and a window that never opened read alike).
 */
export function parseWindowId(id: string): WindowKey {
  const match = ID_PATTERN.exec(id);
  const encoded = match?.[1];
  const digits = match?.[2];
  if (encoded !== undefined && digits !== undefined) {
    const bytes = Buffer.from(encoded, 'base64url');
    let counterparty: string | null = null;
    try {
      counterparty = STRICT_UTF8.decode(bytes);
    } catch {
      counterparty = null;
    }
    const number = BigInt(digits);
    if (
      counterparty !== null &&
      counterparty.length >= 1 &&
      counterparty.length <= COUNTERPARTY_LENGTH_MAX &&
      !counterparty.includes('\u0000') &&
      number <= 9_223_372_036_854_775_807n &&
      windowIdOf({ counterparty, number }) === id
    ) {
      return { counterparty, number };
    }
  }
  throw new MainstayError('resource_not_found', `there is no settlement window ${id}`);
}

/** Orders window keys as lists show them: by counterparty (UTF-8 bytes), newest window first. */
export function compareWindowKeys(a: WindowKey, b: WindowKey): number {
  const byCounterparty = Buffer.compare(
    Buffer.from(a.counterparty, 'utf8'),
    Buffer.from(b.counterparty, 'utf8'),
  );
  if (byCounterparty !== 0) return byCounterparty;
  return a.number === b.number ? 0 : a.number > b.number ? -1 : 1;
}
