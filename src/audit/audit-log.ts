/**
 * The audit trail: an append-only, hash-chained log per shard of who did what, when, from where
 * and with what outcome (docs/operating/audit.md). Domain-neutral: the HTTP hook records every
 * authenticated write, and any service can record an action of its own (a staff login).
 */
import { randomUUID } from 'node:crypto';
import type { Queryable, ReadOptions } from '../data/router.ts';
import type { Page } from '../data/write-contract.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { MigrationSet } from '../migrations/migration.ts';
import { loadMigrationSet } from '../migrations/migration-files.ts';
import {
  AUDIT_PAGE_SIZE_MAX,
  type AuditEntry,
  type AuditFilters,
  type AuditRecord,
  type AuditVerification,
  type ChainReport,
} from './audit-entry.ts';
import { normalizeRecord } from './audit-hash.ts';
import { type AppendOutcome, AuditLane, type LaneFigures } from './audit-lane.ts';
import { appendToChain, type ListCursor, readListPage } from './audit-store.ts';
import { verifyChain } from './audit-verifier.ts';

/** The shard schema of the audit trail: `audit_log`, its chain head, the append-only trigger. */
export const AUDIT_MIGRATIONS: MigrationSet = loadMigrationSet(
  'audit',
  new URL('./sql/audit/', import.meta.url),
  // The trail is a hash chain per shard: an entry records what happened where, and stays there.
  { audit_log: { kind: 'shard' }, audit_chain_head: { kind: 'shard' } },
);

/** What the log needs of a router (the data layer's `Router` is one). */
export interface AuditRouter {
  readonly map: { readonly shardIds: readonly number[]; shardOf(key: unknown): number };
  writeToShard<T>(
    shardId: number,
    work: (tx: Queryable) => Promise<T>,
  ): Promise<{ readonly value: T }>;
  readShard<T>(
    shardId: number,
    work: (db: Queryable) => Promise<T>,
    options?: ReadOptions,
  ): Promise<{ readonly value: T }>;
}

/** The bounds of a log; each has a default. */
export interface AuditLogOptions {
  /** Records one append transaction takes at most (500). */
  readonly batchSizeMax?: number;
  /** Records waiting in memory at most, all shards together (100,000); past it, `dropped`. */
  readonly pendingCountMax?: number;
  /** First wait after a failed batch (100 ms), doubled per failure in a row up to the max. */
  readonly retryDelayMsMin?: number;
  /** Longest wait between two tries of a failed batch (5,000 ms). */
  readonly retryDelayMsMax?: number;
  /** How long `close` tries to write what is queued (5,000 ms). */
  readonly closeWaitMs?: number;
  /** Entries one verification read takes (2,000). */
  readonly verifyPageSize?: number;
}

const DEFAULTS: Required<AuditLogOptions> = {
  batchSizeMax: 500,
  pendingCountMax: 100_000,
  retryDelayMsMin: 100,
  retryDelayMsMax: 5_000,
  closeWaitMs: 5_000,
  verifyPageSize: 2_000,
};

/** A log's figures, for metrics: what was appended, what waits, what was lost and why. */
export interface AuditStats extends Readonly<LaneFigures> {
  /** Records queued and not yet committed, all shards together. */
  readonly pendingCount: number;
  /** How long the oldest queued record has waited, 0 when none waits. */
  readonly oldestPendingMs: number;
  /** Appends `appendWithin` stopped waiting for: answers sent before their entry committed. */
  readonly unconfirmedCount: number;
}

/**
 * The audit trail of a fleet, as one API process writes and reads it.
 *
 * @example
 * const audit = new AuditLog(router);
 * await audit.append({ actorKind: 'staff', actor: staffId, action: 'staff.login', ... });
 * const { intact, shards } = await audit.verify();
 */
export class AuditLog {
  readonly #router: AuditRouter;
  readonly #options: Required<AuditLogOptions>;
  readonly #lanes = new Map<number, AuditLane>();
  readonly #figures: LaneFigures = {
    appendedCount: 0,
    refusedCount: 0,
    droppedCount: 0,
    failedBatchCount: 0,
    lastError: null,
  };
  #unconfirmedCount = 0;
  #closed = false;

  constructor(router: AuditRouter, options: AuditLogOptions = {}) {
    this.#router = router;
    this.#options = { ...DEFAULTS, ...options };
    for (const [name, value] of Object.entries(this.#options)) {
      if (!Number.isSafeInteger(value) || value < 1)
        throw new RangeError(`audit log option ${name} must be a positive integer, got ${value}`);
    }
  }

  /**
   * Records `record` on its actor's shard. The promise settles once the entry committed
   * (`appended`), was refused by its shard for its data alone (`refused`), or was given up
   * (`dropped`: more than `pendingCountMax` records waiting, or the log closed first). While
   * the shard cannot be written, the record waits in memory and is retried; it never rejects.
   * Throws at once for a record no shard could take: `RangeError` (see `normalizeRecord`), or
   * `invalid_shard_key` for an actor the shard map cannot place.
   */
  append(record: AuditRecord): Promise<AppendOutcome> {
    const normalized = normalizeRecord(record, new Date());
    const shardId = this.#router.map.shardOf(normalized.actor);
    if (this.#closed || this.#pendingCount() >= this.#options.pendingCountMax) {
      this.#figures.droppedCount += 1;
      this.#figures.lastError = this.#closed
        ? 'an entry came after the audit log was closed'
        : `over ${this.#options.pendingCountMax} audit entries wait: entry dropped`;
      return Promise.resolve('dropped');
    }
    return this.#laneOf(shardId).push({ ...normalized, id: randomUUID() });
  }

  /**
   * {@link AuditLog.append}, waiting at most `waitMs` for the outcome: `pending` when the entry
   * has not committed by then (it stays queued; counted in `unconfirmedCount`).
   */
  async appendWithin(record: AuditRecord, waitMs: number): Promise<AppendOutcome | 'pending'> {
    const appended = this.append(record);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<'pending'>((done) => {
      timer = setTimeout(() => done('pending'), waitMs);
    });
    try {
      const outcome = await Promise.race([appended, waited]);
      if (outcome === 'pending') this.#unconfirmedCount += 1;
      return outcome;
    } finally {
      clearTimeout(timer);
    }
  }

  #laneOf(shardId: number): AuditLane {
    let lane = this.#lanes.get(shardId);
    if (!lane) {
      const write = async (records: Parameters<typeof appendToChain>[1], retry: boolean) => {
        const { value } = await this.#router.writeToShard(shardId, (tx) =>
          appendToChain(tx, records, retry),
        );
        return value;
      };
      lane = new AuditLane(write, this.#figures, this.#options);
      this.#lanes.set(shardId, lane);
    }
    return lane;
  }

  #pendingCount(): number {
    let count = 0;
    for (const lane of this.#lanes.values()) count += lane.pendingCount;
    return count;
  }

  /** The log's figures now. */
  stats(): AuditStats {
    const oldest = Math.min(
      ...[...this.#lanes.values()].map((lane) => lane.oldestSince ?? Number.POSITIVE_INFINITY),
    );
    return {
      ...this.#figures,
      pendingCount: this.#pendingCount(),
      oldestPendingMs: Number.isFinite(oldest) ? Math.max(0, Date.now() - oldest) : 0,
      unconfirmedCount: this.#unconfirmedCount,
    };
  }

  /**
   * Checks the chains of every shard (or of `shardId`) on their primaries, one shard after
   * another, and names each chain's first broken link. A shard that cannot be read is
   * `unavailable`, and the others are still checked.
   */
  async verify(shardId?: number): Promise<AuditVerification> {
    const shardIds = shardId === undefined ? this.#router.map.shardIds : [shardId];
    if (shardId !== undefined && !this.#router.map.shardIds.includes(shardId)) {
      throw new MainstayError('invalid_request', `there is no shard ${shardId}`, {
        errors: [{ pointer: '/shardId', detail: 'must be a shard of the fleet' }],
      });
    }
    const read = async <T>(id: number, work: (db: Queryable) => Promise<T>) =>
      (await this.#router.readShard(id, work, { consistency: 'primary' })).value;
    const shards: ChainReport[] = [];
    for (const id of shardIds)
      shards.push(await verifyChain(read, id, this.#options.verifyPageSize));
    return { intact: shards.every((shard) => shard.status === 'intact'), shards };
  }

  /**
   * A page of entries, newest first (by time, then shard, then seq), read from the primaries:
   * of one actor (from that actor's shard only), or of every shard merged.
   */
  async list(
    filters: AuditFilters,
    page: { readonly limit: number; readonly startingAfter?: string },
  ): Promise<Page<AuditEntry>> {
    const { limit } = page;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > AUDIT_PAGE_SIZE_MAX)
      throw new RangeError(`limit must be 1 to ${AUDIT_PAGE_SIZE_MAX}, got ${limit}`);
    const cursor = page.startingAfter === undefined ? null : decodeCursor(page.startingAfter);
    const actor = filters.actor ?? null;
    const shardIds = actor === null ? this.#router.map.shardIds : [this.#router.map.shardOf(actor)];
    const pages = await Promise.all(
      shardIds.map(async (shardId) => {
        const { value } = await this.#router.readShard(
          shardId,
          (db) => readListPage(db, shardId, { actor, cursor, limit: limit + 1 }),
          { consistency: 'primary' },
        );
        return value;
      }),
    );
    const merged = pages.flat().sort(newestFirst);
    const data = merged.slice(0, limit);
    const last = data.at(-1);
    const hasMore = merged.length > limit;
    return { data, hasMore, nextCursor: hasMore && last ? encodeCursor(last) : null };
  }

  /**
   * Stops taking records and writes what is queued, for up to `closeWaitMs`; returns how many
   * records were dropped (counted in `droppedCount`). Close it before the router.
   */
  async close(): Promise<number> {
    this.#closed = true;
    const deadline = Date.now() + this.#options.closeWaitMs;
    const dropped = await Promise.all(
      [...this.#lanes.values()].map((lane) => lane.drain(deadline)),
    );
    return dropped.reduce((sum, count) => sum + count, 0);
  }
}

/** The list's order: `at`, then shard, then seq, all descending. */
function newestFirst(a: AuditEntry, b: AuditEntry): number {
  if (a.at !== b.at) return a.at < b.at ? 1 : -1;
  if (a.shardId !== b.shardId) return b.shardId - a.shardId;
  return b.seq - a.seq;
}

/** The opaque `nextCursor` after `entry`. */
function encodeCursor(entry: AuditEntry): string {
  return Buffer.from(JSON.stringify([entry.at, entry.shardId, entry.seq])).toString('base64url');
}

function decodeCursor(text: string): ListCursor {
  try {
    const [at, shardId, seq] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (
      typeof at === 'string' &&
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(at) &&
      Number.isSafeInteger(shardId) &&
      Number.isSafeInteger(seq) &&
      seq >= 0
    ) {
      return { at, shardId, seq: BigInt(seq) };
    }
  } catch {
    // Reported below.
  }
  throw new MainstayError('invalid_request', 'startingAfter is not a cursor this API returned', {
    errors: [{ pointer: '/startingAfter', detail: 'must be a nextCursor from an earlier page' }],
  });
}
