/**
 * The SQL of the audit trail, on one shard: appending a batch to the chain, reading the head, a
 * page of the chain in order, and a page of the list.
 */
import type { Queryable } from '../data/router.ts';
import type { AuditEntry } from './audit-entry.ts';
import { entryHash, GENESIS_HASH, type HashedFields, type NormalizedRecord } from './audit-hash.ts';

/** A record waiting to be appended, with the id that makes its append idempotent. */
export interface PendingRecord extends NormalizedRecord {
  readonly id: string;
}

/** The end of a chain: the last entry's seq and hash. */
export interface ChainHead {
  readonly seq: bigint;
  readonly hash: Buffer;
}

/** A stored row with the fields the hash covers, as read back. */
export interface StoredRow extends HashedFields {
  readonly prevHash: Buffer;
  readonly hash: Buffer;
}

/**
 * The columns of a stored row, `at` as the exact text the hash covers. Their names shadow the
 * table's in ORDER BY (`seq` is text here), so queries order by `a.seq`, `a.at`.
 */
const ROW_COLUMNS = `seq::text AS seq, entry_id::text AS id,
  to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
  actor_kind, actor, action, target, source_ip, outcome, request_id, detail, prev_hash, hash`;

interface RowFields {
  seq: string;
  id: string;
  at: string;
  actor_kind: string;
  actor: string;
  action: string;
  target: string | null;
  source_ip: string | null;
  outcome: number;
  request_id: string | null;
  detail: unknown;
  prev_hash: Buffer;
  hash: Buffer;
}

function storedRow(row: RowFields): StoredRow {
  return {
    seq: BigInt(row.seq),
    id: row.id,
    at: row.at,
    actorKind: row.actor_kind,
    actor: row.actor,
    action: row.action,
    target: row.target,
    sourceIp: row.source_ip,
    outcome: row.outcome,
    requestId: row.request_id,
    detail: row.detail,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * Locks the chain head of the shard (creating it from the log's last entry on the first append)
 * and returns it. Every append takes this lock first, so appends to one shard serialize.
 */
async function lockHead(tx: Queryable): Promise<ChainHead> {
  const locked = 'SELECT seq::text AS seq, hash FROM public.audit_chain_head FOR UPDATE';
  let { rows } = await tx.query<{ seq: string; hash: Buffer }>(locked);
  if (rows.length === 0) {
    await tx.query(
      `INSERT INTO public.audit_chain_head (id, seq, hash)
       SELECT true, coalesce(max(seq), 0), coalesce(
         (SELECT hash FROM public.audit_log ORDER BY seq DESC LIMIT 1), $1)
       FROM public.audit_log
       ON CONFLICT (id) DO NOTHING`,
      [GENESIS_HASH],
    );
    ({ rows } = await tx.query<{ seq: string; hash: Buffer }>(locked));
  }
  const [head] = rows;
  if (!head) throw new Error('the audit chain head could not be created');
  return { seq: BigInt(head.seq), hash: head.hash };
}

/**
 * Appends `records` to the shard's chain in the caller's transaction and returns how many were
 * new. With `retry`, records already in the log (a batch whose commit outcome was unknown did
 * commit) are skipped, so a retried batch never records an action twice.
 */
export async function appendToChain(
  tx: Queryable,
  records: readonly PendingRecord[],
  retry: boolean,
): Promise<number> {
  const head = await lockHead(tx);
  let fresh = records;
  if (retry) {
    const { rows } = await tx.query<{ id: string }>(
      'SELECT entry_id::text AS id FROM public.audit_log WHERE entry_id = ANY($1::uuid[])',
      [records.map((record) => record.id)],
    );
    const stored = new Set(rows.map((row) => row.id));
    fresh = records.filter((record) => !stored.has(record.id));
  }
  if (fresh.length === 0) return 0;
  let { seq, hash } = head;
  const columns = { seq: [] as string[], prev: [] as Buffer[], hash: [] as Buffer[] };
  for (const record of fresh) {
    seq += 1n;
    const next = entryHash(hash, { ...record, seq });
    columns.seq.push(seq.toString());
    columns.prev.push(hash);
    columns.hash.push(next);
    hash = next;
  }
  await tx.query(
    `WITH appended AS (
       INSERT INTO public.audit_log (seq, entry_id, at, actor_kind, actor, action, target,
         source_ip, outcome, request_id, detail, prev_hash, hash)
       SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[],
         $6::text[], $7::text[], $8::text[], $9::int[], $10::text[], $11::jsonb[], $12::bytea[],
         $13::bytea[])
       RETURNING 1)
     UPDATE public.audit_chain_head SET seq = $14, hash = $15`,
    [
      columns.seq,
      fresh.map((r) => r.id),
      fresh.map((r) => r.at),
      fresh.map((r) => r.actorKind),
      fresh.map((r) => r.actor),
      fresh.map((r) => r.action),
      fresh.map((r) => r.target),
      fresh.map((r) => r.sourceIp),
      fresh.map((r) => r.outcome),
      fresh.map((r) => r.requestId),
      fresh.map((r) => (r.detail === null ? null : JSON.stringify(r.detail))),
      columns.prev,
      columns.hash,
      seq.toString(),
      hash,
    ],
  );
  return fresh.length;
}

/** A shard's chain head (`null` before the first append) and its log's largest seq. */
export interface ChainEnd {
  readonly head: ChainHead | null;
  readonly lastSeq: bigint | null;
}

/** The head and the largest seq, in one statement so both come from one snapshot. */
export async function readChainEnd(db: Queryable): Promise<ChainEnd> {
  const { rows } = await db.query<{ seq: string | null; hash: Buffer | null; last: string | null }>(
    `SELECT h.seq::text AS seq, h.hash, (SELECT max(seq) FROM public.audit_log)::text AS last
     FROM (SELECT 1) AS one LEFT JOIN public.audit_chain_head h ON true`,
  );
  const row = rows[0];
  const head = row?.seq && row.hash ? { seq: BigInt(row.seq), hash: row.hash } : null;
  return { head, lastSeq: row?.last ? BigInt(row.last) : null };
}

/** Up to `limit` entries after `afterSeq`, up to `lastSeq`, in chain order. */
export async function readChainPage(
  db: Queryable,
  afterSeq: bigint,
  lastSeq: bigint,
  limit: number,
): Promise<StoredRow[]> {
  const { rows } = await db.query<RowFields>(
    `SELECT ${ROW_COLUMNS} FROM public.audit_log AS a
     WHERE a.seq > $1 AND a.seq <= $2 ORDER BY a.seq LIMIT $3`,
    [afterSeq.toString(), lastSeq.toString(), limit],
  );
  return rows.map(storedRow);
}

/** Where a list page starts: after the entry at (`at`, `shardId`, `seq`), newest first. */
export interface ListCursor {
  readonly at: string;
  readonly shardId: number;
  readonly seq: bigint;
}

/** Larger than any seq: `(at, seq) < (c, this)` reads as `at <= c`. */
const SEQ_ABOVE_ALL = (2n ** 63n - 1n).toString();

/**
 * Up to `limit` entries of shard `shardId` that come after `cursor` in the list's order (`at`,
 * then shard, then seq, all descending), of `actor` when given.
 */
export async function readListPage(
  db: Queryable,
  shardId: number,
  options: { actor: string | null; cursor: ListCursor | null; limit: number },
): Promise<AuditEntry[]> {
  const { cursor } = options;
  // Within one shard the order is (at, seq); the cursor's shard decides how a tie on `at` goes.
  const seqBound =
    cursor === null
      ? null
      : shardId < cursor.shardId
        ? SEQ_ABOVE_ALL
        : shardId === cursor.shardId
          ? cursor.seq.toString()
          : '0';
  const { rows } = await db.query<RowFields>(
    `SELECT ${ROW_COLUMNS} FROM public.audit_log AS a
     WHERE ($1::text IS NULL OR a.actor = $1)
       AND ($2::timestamptz IS NULL OR (a.at, a.seq) < ($2::timestamptz, $3::bigint))
     ORDER BY a.at DESC, a.seq DESC LIMIT $4`,
    [options.actor, cursor?.at ?? null, seqBound, options.limit],
  );
  return rows.map((row) => {
    const { seq, prevHash: _prev, hash, detail, ...fields } = storedRow(row);
    return {
      shardId,
      seq: Number(seq),
      ...fields,
      detail: textDetail(detail),
      hash: hash.toString('hex'),
    };
  });
}

/**
 * A stored detail as the list shows it: text values only. A rewritten row may hold any JSON;
 * it is shown as its JSON text under `stored` (verification reports the row).
 */
function textDetail(value: unknown): Readonly<Record<string, string>> | null {
  if (value === null) return null;
  if (
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.values(value).every((field) => typeof field === 'string')
  )
    return value as Readonly<Record<string, string>>;
  return { stored: JSON.stringify(value) };
}
