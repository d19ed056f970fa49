/**
 * The vocabulary of the audit trail: what is recorded of one action, what is stored and listed,
 * and what a verification reports. Types only, so the HTTP routes can describe them without
 * importing the log.
 */

/** What a caller records of one action (an HTTP write, a staff action). */
export interface AuditRecord {
  /** How the actor proved who it is: `api_key`, `access_token`, a staff session, `system`. */
  readonly actorKind: string;
  /** The actor's id (`key_...`, `cli_...`, `stf_...`): the entry goes to that id's shard. */
  readonly actor: string;
  /** What was done, e.g. `POST /v1/card-accounts` (the route's pattern). */
  readonly action: string;
  /** The resource it was done to, e.g. the request's path; never a body or a query string. */
  readonly target: string | null;
  readonly sourceIp: string | null;
  /** The HTTP status answered (or a status-like code for actions outside HTTP). */
  readonly outcome: number;
  /** The client's id for the request: a write's `Idempotency-Key`. */
  readonly requestId: string | null;
  /** Further facts, as text only (never a secret): the hash covers them exactly. */
  readonly detail: Readonly<Record<string, string>> | null;
  /** When it happened; the moment of the append when omitted. */
  readonly at?: Date;
}

/** One stored entry, as the log lists it. */
export interface AuditEntry {
  readonly shardId: number;
  /** Position in its shard's chain, from 1 with no gaps. */
  readonly seq: number;
  /** Unique across shards; makes a retried append idempotent. */
  readonly id: string;
  /** RFC 3339, UTC, in microseconds: the exact text the hash covers. */
  readonly at: string;
  readonly actorKind: string;
  readonly actor: string;
  readonly action: string;
  readonly target: string | null;
  readonly sourceIp: string | null;
  readonly outcome: number;
  readonly requestId: string | null;
  readonly detail: Readonly<Record<string, string>> | null;
  /** SHA-256 of the previous entry's hash, this seq and every field, in hex. */
  readonly hash: string;
}

/** How a shard's chain came out of a verification. */
export const CHAIN_STATUSES = ['intact', 'broken', 'unavailable'] as const;
export type ChainStatus = (typeof CHAIN_STATUSES)[number];

/**
 * Why a link is broken. `entry_altered`: the entry's fields no longer give its hash.
 * `link_broken`: the entry does not follow the one before it (an entry removed or inserted
 * before it, or the previous entry's hash rewritten). `head_mismatch`: the chain does not end
 * where the chain head says (entries removed from the end, or the head altered).
 */
export const BREAK_REASONS = ['entry_altered', 'link_broken', 'head_mismatch'] as const;
export type BreakReason = (typeof BREAK_REASONS)[number];

/** The first broken link of a chain. */
export interface BrokenLink {
  /** The first entry that does not check out (for `head_mismatch`, the one the head names). */
  readonly seq: number;
  /** The entry's own fields, `null` when no entry has that seq. */
  readonly at: string | null;
  readonly actor: string | null;
  readonly action: string | null;
  readonly reason: BreakReason;
  readonly detail: string;
}

/** One shard's verification. */
export interface ChainReport {
  readonly shardId: number;
  readonly status: ChainStatus;
  /** Entries checked (up to the head read at the start, or up to the broken link). */
  readonly entries: number;
  /** The chain's end when the check started: keep it to detect a later rewrite (see the docs). */
  readonly head: { readonly seq: number; readonly hash: string } | null;
  readonly brokenAt: BrokenLink | null;
  /** Why the shard could not be checked (`unavailable`), else `null`. */
  readonly error: string | null;
}

/** Every shard's verification; `intact` only when every chain is. */
export interface AuditVerification {
  readonly intact: boolean;
  readonly shards: readonly ChainReport[];
}

/** What the list of entries can be narrowed to. */
export interface AuditFilters {
  /** Entries of one actor (read from that actor's shard only). */
  readonly actor?: string;
}

/** Bounds on the text fields of an entry; longer text is cut (see `normalizeRecord`). */
export const AUDIT_TEXT_LENGTH_MAX = {
  actorKind: 64,
  actor: 512,
  action: 512,
  target: 2048,
  sourceIp: 64,
  requestId: 255,
  detailKey: 64,
  detailValue: 1024,
} as const;

/** At most this many keys in `detail`. */
export const AUDIT_DETAIL_KEY_COUNT_MAX = 32;

/** The largest page a list returns. */
export const AUDIT_PAGE_SIZE_MAX = 100;
