/**
 * Verifying one shard's chain: every entry's hash recomputed from its fields and the previous
 * entry's hash, seq counted from 1 without a gap, and the chain's end compared with the head.
 */
import type { Queryable } from '../data/router.ts';
import type { BreakReason, BrokenLink, ChainReport } from './audit-entry.ts';
import { entryHash, GENESIS_HASH } from './audit-hash.ts';
import {
  type ChainEnd,
  type ChainHead,
  readChainEnd,
  readChainPage,
  type StoredRow,
} from './audit-store.ts';

/** Reads on a shard's primary: the chain as it is now, not as a replica last replayed it. */
export type PrimaryReader = <T>(shardId: number, work: (db: Queryable) => Promise<T>) => Promise<T>;

/** Where the walk along the chain stands. */
interface Walk {
  seq: bigint;
  hash: Buffer;
  entries: number;
}

/** The first link that does not check out of `row`, which should follow `walk`; else null. */
function checkRow(walk: Walk, row: StoredRow): { reason: BreakReason; detail: string } | null {
  const expected = walk.seq + 1n;
  if (row.seq !== expected) {
    return {
      reason: 'link_broken',
      detail: `entries ${expected} to ${row.seq - 1n} are missing before this one`,
    };
  }
  if (!row.prevHash.equals(walk.hash)) {
    return {
      reason: 'link_broken',
      detail: `its previous hash is not the hash of entry ${walk.seq}: that entry was rewritten or replaced`,
    };
  }
  if (!entryHash(row.prevHash, row).equals(row.hash)) {
    return { reason: 'entry_altered', detail: 'its fields no longer give its hash' };
  }
  return null;
}

const hex = (head: ChainHead) => ({ seq: Number(head.seq), hash: head.hash.toString('hex') });

/**
 * Verifies shard `shardId`'s chain up to the head read first (entries appended meanwhile wait
 * for the next run), reading `pageSize` entries at a time. Names the first broken link. A shard
 * that cannot be read reports `unavailable`; a failover during the run can show as a
 * `head_mismatch` (the new primary has not the old one's last entries): run it again.
 */
export async function verifyChain(
  read: PrimaryReader,
  shardId: number,
  pageSize: number,
): Promise<ChainReport> {
  const walk: Walk = { seq: 0n, hash: GENESIS_HASH, entries: 0 };
  let head: ChainHead | null = null;
  const report = (brokenAt: BrokenLink | null, error: string | null = null): ChainReport => ({
    shardId,
    status: error !== null ? 'unavailable' : brokenAt ? 'broken' : 'intact',
    entries: walk.entries,
    head: head && hex(head),
    brokenAt,
    error,
  });
  let end: ChainEnd = { head: null, lastSeq: null };
  try {
    end = await read(shardId, readChainEnd);
    head = end.head;
    // Without a head, every entry there is (they should not exist).
    const last = head?.seq ?? end.lastSeq ?? 0n;
    while (walk.seq < last) {
      const from = walk.seq;
      const rows = await read(shardId, (db) => readChainPage(db, from, last, pageSize));
      for (const row of rows) {
        const broken = checkRow(walk, row);
        if (broken) {
          const { at, actor, action } = row;
          return report({ seq: Number(row.seq), at, actor, action, ...broken });
        }
        walk.seq = row.seq;
        walk.hash = row.hash;
        walk.entries += 1;
      }
      if (rows.length < pageSize) break;
    }
  } catch (error) {
    return report(null, error instanceof Error ? error.message : String(error));
  }
  return report(headMismatch(walk, end));
}

/**
 * The chain's end against the head: entries removed from the end, entries added after it (or
 * with no head at all) behind the appender's back, or the head rewritten.
 */
function headMismatch(walk: Walk, end: ChainEnd): BrokenLink | null {
  const none = { at: null, actor: null, action: null, reason: 'head_mismatch' as const };
  const { head, lastSeq } = end;
  const headSeq = head?.seq ?? 0n;
  if (lastSeq !== null && lastSeq > headSeq) {
    return {
      seq: Number(headSeq + 1n),
      ...none,
      detail: `entries up to ${lastSeq} stand after the chain's head (entry ${headSeq}): they were not appended by the log`,
    };
  }
  if (head === null) return null;
  if (walk.seq !== head.seq) {
    return {
      seq: Number(walk.seq + 1n),
      ...none,
      detail: `the chain ends at entry ${walk.seq} but its head names entry ${head.seq}: entries were removed from its end`,
    };
  }
  if (!walk.hash.equals(head.hash)) {
    return {
      seq: Number(head.seq),
      ...none,
      detail: `the head's hash is not the hash of entry ${head.seq}`,
    };
  }
  return null;
}
