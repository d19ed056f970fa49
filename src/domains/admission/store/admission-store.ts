/**
 * The admission gate's records in the catalog database (decision 55): decisions, found again by
 * id, by page, or by the caller's idempotency key; and table samples for growth and windows. A decision and
 * its samples are written in one transaction, so a refused or raced request leaves neither.
 */
import type pg from 'pg';
import type { Page } from '../../../data/write-contract.ts';
import type { AdmissionDecision } from '../core/admission-decision.ts';
import type { AdmissionClaim, AdmissionRecord, AdmissionRecords } from '../core/admission-gate.ts';
import type { ChangeRequest } from '../core/change-request.ts';
import type { TableSample } from '../core/fleet-statistics.ts';

/** How long table samples are kept: growth and traffic windows are measured against them. */
export const SAMPLE_RETENTION_DAYS = 35;

interface DecisionRow {
  id: string;
  requested_by: string;
  fingerprint: string;
  request: ChangeRequest;
  decision: AdmissionDecision;
  created_at: Date;
}

interface SampleRow {
  table_name: string;
  taken_at: Date;
  bytes: string;
  rows_read: string;
  rows_read_on_replicas: string;
  rows_written: string;
}

const COLUMNS = 'id, requested_by, fingerprint, request, decision, created_at';

function recordOf(row: DecisionRow): AdmissionRecord {
  return {
    id: row.id,
    createdAt: row.created_at.toISOString(),
    requestedBy: row.requested_by,
    request: row.request,
    decision: row.decision,
  };
}

/** {@link AdmissionRecords} on a pool to the catalog database. */
export class AdmissionStore implements AdmissionRecords {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async find(requestedBy: string, idempotencyKey: string) {
    const { rows } = await this.#pool.query<DecisionRow>(
      `SELECT ${COLUMNS} FROM admission_decisions WHERE requested_by = $1 AND idempotency_key = $2`,
      [requestedBy, idempotencyKey],
    );
    const row = rows[0];
    return row ? { record: recordOf(row), fingerprint: row.fingerprint } : null;
  }

  async samplesBefore(before: Date): Promise<TableSample[]> {
    const { rows } = await this.#pool.query<SampleRow>(
      `SELECT DISTINCT ON (table_name) table_name, taken_at, bytes, rows_read,
         rows_read_on_replicas, rows_written
       FROM admission_table_samples WHERE taken_at <= $1 ORDER BY table_name, taken_at DESC`,
      [before],
    );
    return rows.map((row) => ({
      table: row.table_name,
      takenAt: row.taken_at.toISOString(),
      bytes: Number(row.bytes),
      rowsRead: Number(row.rows_read),
      rowsReadOnReplicas: Number(row.rows_read_on_replicas),
      rowsWritten: Number(row.rows_written),
    }));
  }

  async insert(
    record: AdmissionRecord,
    claim: AdmissionClaim,
    samples: readonly TableSample[],
  ): Promise<AdmissionRecord | null> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<DecisionRow>(
        `INSERT INTO admission_decisions (id, requested_by, idempotency_key, fingerprint, title,
           system, review_required, request, decision, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (requested_by, idempotency_key) DO NOTHING RETURNING ${COLUMNS}`,
        [
          record.id,
          claim.requestedBy,
          claim.idempotencyKey,
          claim.fingerprint,
          record.request.title,
          record.request.system,
          record.decision.reviewRequired,
          JSON.stringify(record.request),
          JSON.stringify(record.decision),
          record.createdAt,
        ],
      );
      const row = rows[0];
      if (row) await this.#writeSamples(client, samples);
      await client.query(row ? 'COMMIT' : 'ROLLBACK');
      client.release();
      return row ? recordOf(row) : null;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release(true);
      throw error;
    }
  }

  async #writeSamples(client: pg.PoolClient, samples: readonly TableSample[]): Promise<void> {
    await client.query(
      `INSERT INTO admission_table_samples (table_name, taken_at, bytes, rows_read,
         rows_read_on_replicas, rows_written)
       SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[],
         $5::bigint[], $6::bigint[])
       ON CONFLICT DO NOTHING`,
      [
        samples.map((sample) => sample.table),
        samples.map((sample) => sample.takenAt),
        samples.map((sample) => sample.bytes),
        samples.map((sample) => sample.rowsRead),
        samples.map((sample) => sample.rowsReadOnReplicas),
        samples.map((sample) => sample.rowsWritten),
      ],
    );
    await client.query(
      'DELETE FROM admission_table_samples WHERE taken_at < now() - make_interval(days => $1)',
      [SAMPLE_RETENTION_DAYS],
    );
  }

  async get(id: string): Promise<AdmissionRecord | null> {
    const { rows } = await this.#pool.query<DecisionRow>(
      `SELECT ${COLUMNS} FROM admission_decisions WHERE id = $1`,
      [id],
    );
    return rows[0] ? recordOf(rows[0]) : null;
  }

  /** Decisions newest first (ids sort by creation time). */
  async list(limit: number, startingAfter: string | null): Promise<Page<AdmissionRecord>> {
    const { rows } = await this.#pool.query<DecisionRow>(
      `SELECT ${COLUMNS} FROM admission_decisions WHERE ($1::text IS NULL OR id COLLATE "C" < $1)
       ORDER BY id COLLATE "C" DESC LIMIT $2`,
      [startingAfter, limit + 1],
    );
    const data = rows.slice(0, limit).map(recordOf);
    const hasMore = rows.length > limit;
    return { data, hasMore, nextCursor: hasMore ? (data.at(-1)?.id ?? null) : null };
  }
}
