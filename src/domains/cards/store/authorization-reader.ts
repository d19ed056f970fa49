import type { Queryable, Router } from '../../../data/router.ts';
import type { ConsistencyLevel } from '../../../data/router-options.ts';
import type {
  AdviceResult,
  AuthorizationOutcome,
  AuthorizationStatus,
} from '../core/authorization/authorization-types.ts';
import { AUTHORIZATION_COLUMNS, type AuthorizationRow, outcomeOfRow } from './authorization-row.ts';

/** Pause between two looks at a replica's replay position. */
const REPLAY_POLL_MS = 2;

/** One reconciled advice as the issuer's reconciliation ledger keeps it. */
export interface ReconciledAdvice {
  readonly authorizationId: string;
  readonly cardId: string;
  readonly requestId: string;
  readonly result: AdviceResult;
  readonly standInStatus: AuthorizationStatus;
  readonly issuerStatus: AuthorizationStatus;
  readonly amount: bigint;
  readonly currency: string;
  readonly exposure: bigint;
  readonly decidedAt: string;
  readonly appliedAt: string;
}

/**
 * One advice the forwarder gave up on (`stand_in_quarantine`): kept with the error that kept
 * failing it, so an operator can repair and re-drive it. Nothing of it is on the issuer's books.
 */
export interface QuarantinedAdvice {
  readonly authorizationId: string;
  readonly cardId: string;
  readonly requestId: string;
  readonly standInStatus: AuthorizationStatus;
  readonly amount: bigint;
  readonly currency: string;
  readonly decidedAt: string;
  /** The error code (a catalogue code or `sqlstate_<code>`) and message of the last failure. */
  readonly errorCode: string;
  readonly errorMessage: string;
  readonly failureCount: number;
  readonly quarantinedAt: string;
}

/** A page of a per-shard ledger, ordered by authorization id. */
export interface LedgerPage {
  readonly limit: number;
  readonly startingAfter?: string | null;
}

/** What {@link AuthorizationReader.resolve} found for an id. */
export type ResolvedAuthorization =
  | { readonly state: 'found'; readonly outcome: AuthorizationOutcome }
  | { readonly state: 'quarantined'; readonly advice: QuarantinedAdvice }
  | { readonly state: 'missing' };

interface ReconciliationRow {
  authorization_id: string;
  card_id: string;
  request_id: string;
  result: AdviceResult;
  stand_in_status: AuthorizationStatus;
  issuer_status: AuthorizationStatus;
  amount: string;
  currency: string;
  exposure_amount: string;
  decided_at: Date;
  applied_at: Date;
}

interface QuarantineRow {
  authorization_id: string;
  card_id: string;
  request_id: string;
  stand_in_status: AuthorizationStatus;
  amount: string;
  currency: string;
  decided_at: string;
  error_code: string;
  error_message: string;
  failure_count: number;
  quarantined_at: Date;
}

const QUARANTINE_COLUMNS =
  'authorization_id, card_id, request_id, stand_in_status, amount::text, currency, decided_at, ' +
  'error_code, error_message, failure_count, quarantined_at';

/**
 * Every read of the authorization tables (`authorizations`, the reconciliation ledger
 * `stand_in_reconciliations`, the dead letters `stand_in_quarantine`) outside the write paths,
 * so the services and the stand-in adapter share one place that knows the tables. Reads that
 * serve stand-in fall back to a replica (`any`) when the primary does not answer: stand-in
 * works exactly when primaries are in trouble.
 */
export class AuthorizationReader {
  readonly #router: Router;

  constructor(router: Router) {
    this.#router = router;
  }

  /**
   * The authorization an id names. A stand-in id whose advice the issuer reconciled as
   * `duplicate_dropped` (the issuer had decided the same request itself, under its own id)
   * resolves to the issuer's authorization through the ledger; a quarantined advice's id
   * resolves to its dead letter. One shard: a stand-in id carries its card's bucket.
   */
  async resolve(id: string, token: string | null): Promise<ResolvedAuthorization> {
    const { value } = await this.#router.read(
      id,
      async (db) => {
        const found = await db.query<AuthorizationRow>(
          `SELECT ${AUTHORIZATION_COLUMNS} FROM public.authorizations WHERE id = $1
           UNION ALL
           SELECT ${prefixed('a', AUTHORIZATION_COLUMNS)}
             FROM public.stand_in_reconciliations r
             JOIN public.authorizations a ON a.card_id = r.card_id AND a.request_id = r.request_id
            WHERE r.authorization_id = $1 AND r.result = 'duplicate_dropped' AND a.id <> $1
           LIMIT 1`,
          [id],
        );
        if (found.rows.length > 0) return { found: found.rows, quarantined: [] };
        const quarantined = await db.query<QuarantineRow>(
          `SELECT ${QUARANTINE_COLUMNS} FROM public.stand_in_quarantine WHERE authorization_id = $1`,
          [id],
        );
        return { found: [], quarantined: quarantined.rows };
      },
      { token },
    );
    const row = value.found[0];
    if (row) return { state: 'found', outcome: outcomeOfRow(row) };
    const dead = value.quarantined[0];
    return dead ? { state: 'quarantined', advice: quarantinedOf(dead) } : { state: 'missing' };
  }

  /** The authorization the issuer holds for a card's request id, `null` when none. */
  async byRequest(
    cardId: string,
    requestId: string,
    consistency: ConsistencyLevel = 'any',
  ): Promise<AuthorizationOutcome | null> {
    const { value } = await this.#router.read(
      cardId,
      (db) =>
        db.query<AuthorizationRow>(
          `SELECT ${AUTHORIZATION_COLUMNS} FROM public.authorizations
            WHERE card_id = $1 AND request_id = $2`,
          [cardId, requestId],
        ),
      { consistency },
    );
    const row = value.rows[0];
    return row ? outcomeOfRow(row) : null;
  }

  /**
   * The authorization the issuer holds for a card's request id, read where stand-in can read
   * while the primary cannot answer: a replica (`any`), after it has replayed all the WAL it
   * had received when the read began. With a synchronous standby (the default), every commit
   * the issuer acknowledged is on that replica's disk before the acknowledgement, so once it
   * is replayed, an answer the issuer gave is visible: stand-in honours it instead of deciding
   * again (decision 37). Throws `replica_behind` (a plain `Error`) when the replica does not
   * catch up within `waitMs`; the caller bounds the whole read.
   */
  async byRequestReplayed(
    cardId: string,
    requestId: string,
    waitMs: number,
  ): Promise<AuthorizationOutcome | null> {
    const { value } = await this.#router.read(
      cardId,
      async (db) => {
        const target = await db.query<{ lsn: string | null }>(
          'SELECT pg_last_wal_receive_lsn()::text AS lsn',
        );
        const lsn = target.rows[0]?.lsn ?? null;
        const deadline = Date.now() + waitMs;
        while (lsn !== null) {
          const replayed = await db.query<{ ok: boolean }>(
            'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok',
            [lsn],
          );
          if (replayed.rows[0]?.ok) break;
          if (Date.now() >= deadline) throw new Error('replica_behind: replay did not catch up');
          await new Promise((resolve) => setTimeout(resolve, REPLAY_POLL_MS));
        }
        return db.query<AuthorizationRow>(
          `SELECT ${AUTHORIZATION_COLUMNS} FROM public.authorizations
            WHERE card_id = $1 AND request_id = $2`,
          [cardId, requestId],
        );
      },
      { consistency: 'any' },
    );
    const row = value.rows[0];
    return row ? outcomeOfRow(row) : null;
  }

  /**
   * How far each account's books (held plus posted) stand above its credit limit, read on the
   * shard's primary, with the primary's clock at the read: what the stand-in registry keeps as
   * the account's overshoot after advices were applied (decision 38).
   */
  async overshoots(
    shardId: number,
    accountIds: readonly string[],
  ): Promise<{ overshoots: Map<string, bigint>; measuredAt: Date }> {
    const { value } = await this.#router.readShard(
      shardId,
      (db) =>
        db.query<{ id: string; overshoot: string; at: Date }>(
          `SELECT id, greatest(held + posted - credit_limit, 0)::text AS overshoot,
                  clock_timestamp() AS at
             FROM public.card_accounts WHERE id = ANY ($1)`,
          [accountIds],
        ),
      { consistency: 'primary' },
    );
    const overshoots = new Map(value.rows.map((row) => [row.id, BigInt(row.overshoot)]));
    const measuredAt = value.rows[0]?.at ?? new Date();
    return { overshoots, measuredAt };
  }

  /** A page of a shard's reconciliation ledger (primary, else a replica). */
  async reconciledAdvices(shardId: number, page: LedgerPage): Promise<ReconciledAdvice[]> {
    const rows = await this.#shardPage<ReconciliationRow>(
      shardId,
      `SELECT authorization_id, card_id, request_id, result, stand_in_status, issuer_status,
              amount::text, currency, exposure_amount::text, decided_at, applied_at
         FROM public.stand_in_reconciliations
        WHERE authorization_id > $1 ORDER BY authorization_id LIMIT $2`,
      page,
    );
    return rows.map((row) => ({
      authorizationId: row.authorization_id,
      cardId: row.card_id,
      requestId: row.request_id,
      result: row.result,
      standInStatus: row.stand_in_status,
      issuerStatus: row.issuer_status,
      amount: BigInt(row.amount),
      currency: row.currency,
      exposure: BigInt(row.exposure_amount),
      decidedAt: row.decided_at.toISOString(),
      appliedAt: row.applied_at.toISOString(),
    }));
  }

  /** A page of a shard's quarantined advices (primary, else a replica). */
  async quarantinedAdvices(shardId: number, page: LedgerPage): Promise<QuarantinedAdvice[]> {
    const rows = await this.#shardPage<QuarantineRow>(
      shardId,
      `SELECT ${QUARANTINE_COLUMNS} FROM public.stand_in_quarantine
        WHERE authorization_id > $1 ORDER BY authorization_id LIMIT $2`,
      page,
    );
    return rows.map(quarantinedOf);
  }

  async #shardPage<R extends object>(shardId: number, sql: string, page: LedgerPage) {
    const work = (db: Queryable) =>
      db.query<R & Record<string, unknown>>(sql, [page.startingAfter ?? '', page.limit]);
    const { value } = await this.#router
      .readShard(shardId, work, { consistency: 'primary' })
      .catch(() => this.#router.readShard(shardId, work, { consistency: 'any' }));
    return value.rows;
  }
}

function quarantinedOf(row: QuarantineRow): QuarantinedAdvice {
  return {
    authorizationId: row.authorization_id,
    cardId: row.card_id,
    requestId: row.request_id,
    standInStatus: row.stand_in_status,
    amount: BigInt(row.amount),
    currency: row.currency,
    decidedAt: row.decided_at,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    failureCount: row.failure_count,
    quarantinedAt: row.quarantined_at.toISOString(),
  };
}

/** `a.id, a.request_id, ...` from a column list. */
function prefixed(alias: string, columns: string): string {
  return columns
    .split(',')
    .map((column) => `${alias}.${column.trim()}`)
    .join(', ');
}
