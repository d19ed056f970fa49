import { hostname } from 'node:os';
import pg from 'pg';
import { JobRunner } from '../../../jobs/job-runner.ts';
import { migrate } from '../../../migrations/migration.ts';
import { guardedPool } from '../../../postgres/guarded-pool.ts';
import {
  adviceIdOf,
  decodeAdvice,
  encodeAdvice,
  type StandInAdvice,
} from '../core/stand-in/stand-in-advice.ts';
import { STAND_IN_REGISTRY_MIGRATIONS } from '../sql/stand-in-registry-migrations.ts';

/** Connections of one process's registry pool. */
const REGISTRY_POOL_SIZE_MAX = 4;

/** The channel `stand_in.decide` notifies on, with the shard id as payload. */
const CHANNEL = 'mainstay_stand_in';

/** Bounds of the registry's own work. */
export interface StandInRegistryOptions {
  /** Who decides (kept with each decision, for people reading the registry). */
  readonly processName: string;
  /** How often unapplied counts and exposure totals are re-read (and LISTEN re-established). */
  readonly pollIntervalMs: number;
  /** Keys looked up in one query (lookups arriving together share one round trip). */
  readonly lookupBatchMax: number;
}

const OPTIONS_DEFAULT: Omit<StandInRegistryOptions, 'processName'> = {
  pollIntervalMs: 1_000,
  lookupBatchMax: 256,
};

/** What the registry last saw: for stats and metrics. */
export interface StandInRegistrySnapshot {
  /** Whether the last round trip to the witness succeeded. */
  readonly reachable: boolean;
  /** Whether this process hears other processes' decisions as they are taken (LISTEN). */
  readonly listening: boolean;
  /** Stand-in decisions of every process not yet on the issuer's books, per shard. */
  readonly unappliedByShard: Readonly<Record<number, number>>;
  /** Stand-in approvals of every process not yet on the issuer's books, per currency. */
  readonly outstandingByCurrency: Readonly<Record<string, bigint>>;
  /** Books above credit limits as last measured, per currency (accounts only). */
  readonly overshootByCurrency: Readonly<Record<string, bigint>>;
  readonly lastError: string | null;
}

/** What {@link StandInRegistry.decide} settled. */
export interface RegisteredDecision {
  /** The advice that is the answer: this call's, its capped variant, or one given before. */
  readonly advice: StandInAdvice;
  /** An answer given before (by any process) was found and returned. */
  readonly replayed: boolean;
  /** The approval was turned into a decline by the shared exposure cap. */
  readonly capped: boolean;
}

/** Shared exposure caps for one decision, in the request currency's minor units. */
export interface ExposureCaps {
  readonly accountMax: bigint;
  readonly cardMax: bigint;
}

/** The columns a decision is read back from. */
const DECISION_COLUMNS = 'shard_id, card_id, request_id, advice';

interface DecisionRow {
  readonly shard_id: number;
  readonly card_id: string;
  readonly request_id: string;
  readonly advice: unknown;
}

/** The advice a decision row holds. */
function adviceOfRow(row: DecisionRow): StandInAdvice {
  const key = { cardId: row.card_id, requestId: row.request_id };
  return decodeAdvice({ id: adviceIdOf(key), shardId: row.shard_id, payload: row.advice });
}

interface Lookup {
  readonly cardId: string;
  readonly requestId: string;
  readonly resolve: (advice: StandInAdvice | undefined) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The stand-in registry: one record of every stand-in decision taken by every API process, and
 * the exposure their approvals opened, kept on the witness (decisions 37 and 38). It is what
 * makes stand-in answer a request once across processes (a second process finds the first
 * one's answer) and bounds exposure across processes (an approval reserves against shared
 * per-account and per-card caps in the same transaction that records it). The local spool
 * stays the forwarding queue; the registry is the record of what was answered.
 *
 * Each process hears new decisions by LISTEN, so its issuer path can look for an answer stand-in
 * gave elsewhere while a shard has unapplied decisions (`mayHaveUnapplied`); while it is not
 * listening it assumes every shard may have some.
 */
/** A poll reads a few rows on the witness; one slower than this is counted as timed out. */
const POLL_TIMEOUT_MS = 5_000;

export class StandInRegistry {
  readonly #pool: pg.Pool;
  readonly #options: StandInRegistryOptions;
  readonly #listenConfig: pg.ClientConfig;
  #listener: pg.Client | null = null;
  #unapplied = new Set<number>();
  #notifiedDuringPoll = new Set<number>();
  #snapshot: StandInRegistrySnapshot = {
    reachable: false,
    listening: false,
    unappliedByShard: {},
    outstandingByCurrency: {},
    overshootByCurrency: {},
    lastError: null,
  };
  #lookups: Lookup[] = [];
  /** The poll's loop, for metrics. */
  readonly jobs = new JobRunner();
  #closed = false;

  private constructor(
    pool: pg.Pool,
    listenConfig: pg.ClientConfig,
    options: StandInRegistryOptions,
  ) {
    this.#pool = pool;
    this.#listenConfig = listenConfig;
    this.#options = options;
  }

  /**
   * Migrates the registry's schema on the witness, starts listening and polling. The pool is
   * the caller's (connections to the catalog database); `listenConfig` opens the one
   * connection that LISTENs.
   */
  static async open(
    pool: pg.Pool,
    listenConfig: pg.ClientConfig,
    options: Partial<StandInRegistryOptions> & Pick<StandInRegistryOptions, 'processName'>,
  ): Promise<StandInRegistry> {
    const client = await pool.connect();
    try {
      await migrate(client, [STAND_IN_REGISTRY_MIGRATIONS]);
    } finally {
      client.release();
    }
    const registry = new StandInRegistry(pool, listenConfig, { ...OPTIONS_DEFAULT, ...options });
    await registry.#poll();
    registry.jobs.add({
      name: 'stand-in-registry-poll',
      intervalMs: registry.#options.pollIntervalMs,
      runTimeoutMs: POLL_TIMEOUT_MS,
      run: () => registry.#poll(),
    });
    registry.jobs.start();
    return registry;
  }

  /** Stops polling and listening; the pool stays the caller's. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.jobs.stop();
    const listener = this.#listener;
    this.#listener = null;
    await listener?.end().catch(() => undefined);
  }

  /** The figures last read. */
  get snapshot(): StandInRegistrySnapshot {
    return this.#snapshot;
  }

  /**
   * Whether a request of `shardId` may have a stand-in answer that is not yet on the issuer's
   * books: then the issuer path must look it up before deciding again.
   */
  mayHaveUnapplied(shardId: number): boolean {
    return this.#listener === null || this.#unapplied.has(shardId);
  }

  /**
   * Records a stand-in decision unless one was given already for the card and request id, in
   * one transaction on the witness: an approval first reserves its amount against the shared
   * caps and becomes `capped` (a decline) when it does not fit. Throws when the witness cannot
   * be reached: then nothing was promised.
   */
  async decide(
    proposed: StandInAdvice,
    capped: StandInAdvice | null,
    caps: ExposureCaps,
  ): Promise<RegisteredDecision> {
    const { request, outcome } = proposed;
    const { rows } = await this.#pool.query<{
      o_advice: unknown;
      o_replayed: boolean;
      o_capped: boolean;
    }>('SELECT * FROM stand_in.decide($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)', [
      request.cardId,
      request.requestId,
      outcome.id,
      proposed.shardId,
      outcome.accountId,
      request.amount.toString(),
      request.currency,
      JSON.stringify(encodeAdvice(proposed)),
      JSON.stringify(encodeAdvice(capped ?? proposed)),
      caps.accountMax.toString(),
      caps.cardMax.toString(),
      this.#options.processName,
    ]);
    const row = rows[0];
    if (!row) throw new Error('stand_in.decide returned no row');
    this.#unapplied.add(proposed.shardId);
    this.#notifiedDuringPoll.add(proposed.shardId);
    return {
      advice: adviceOfRow({
        shard_id: proposed.shardId,
        card_id: request.cardId,
        request_id: request.requestId,
        advice: row.o_advice,
      }),
      replayed: row.o_replayed,
      capped: row.o_capped,
    };
  }

  /**
   * The stand-in answer any process gave for the card and request id, `undefined` when none.
   * Lookups arriving in the same turn of the event loop share one query.
   */
  find(cardId: string, requestId: string): Promise<StandInAdvice | undefined> {
    return new Promise((resolve, reject) => {
      this.#lookups.push({ cardId, requestId, resolve, reject });
      if (this.#lookups.length === 1) setImmediate(() => void this.#flushLookups());
    });
  }

  /** The stand-in answer recorded under an authorization id, and whether it is applied. */
  async findById(
    authorizationId: string,
  ): Promise<{ advice: StandInAdvice; applied: boolean } | undefined> {
    const { rows } = await this.#pool.query<DecisionRow & { applied: boolean }>(
      `SELECT ${DECISION_COLUMNS}, applied_at IS NOT NULL AS applied
         FROM stand_in.decisions WHERE authorization_id = $1`,
      [authorizationId],
    );
    const row = rows[0];
    return row ? { advice: adviceOfRow(row), applied: row.applied } : undefined;
  }

  /** Decisions not yet applied, decided at least `olderThanMs` ago, oldest first. */
  async unapplied(olderThanMs: number, countMax: number): Promise<StandInAdvice[]> {
    const { rows } = await this.#pool.query<DecisionRow>(
      `SELECT ${DECISION_COLUMNS} FROM stand_in.decisions
        WHERE applied_at IS NULL AND decided_at <= now() - make_interval(secs => $1::float8 / 1000)
        ORDER BY decided_at LIMIT $2`,
      [olderThanMs, countMax],
    );
    return rows.map(adviceOfRow);
  }

  /**
   * Marks decisions applied on the issuer and records the overshoot of the accounts they
   * touched, measured on the shard's primary at `measuredAt` after the application.
   */
  async markApplied(
    authorizationIds: readonly string[],
    overshoots: ReadonlyMap<string, bigint>,
    measuredAt: Date,
  ): Promise<void> {
    if (authorizationIds.length === 0 && overshoots.size === 0) return;
    await this.#pool.query('SELECT stand_in.applied($1, $2, $3, $4)', [
      authorizationIds,
      [...overshoots.keys()],
      [...overshoots.values()].map(String),
      measuredAt,
    ]);
  }

  /** Deletes applied decisions older than `ageMsMin` (their answers live on the issuer). */
  async prune(ageMsMin: number, countMax: number): Promise<number> {
    const { rowCount } = await this.#pool.query(
      `DELETE FROM stand_in.decisions WHERE ctid IN (
         SELECT ctid FROM stand_in.decisions
          WHERE applied_at IS NOT NULL
            AND applied_at <= now() - make_interval(secs => $1::float8 / 1000)
          LIMIT $2)`,
      [ageMsMin, countMax],
    );
    return rowCount ?? 0;
  }

  async #flushLookups(): Promise<void> {
    const batch = this.#lookups.splice(0, this.#options.lookupBatchMax);
    if (this.#lookups.length > 0) setImmediate(() => void this.#flushLookups());
    if (batch.length === 0) return;
    try {
      const { rows } = await this.#pool.query<DecisionRow>(
        `SELECT ${DECISION_COLUMNS}
           FROM unnest($1::text[], $2::text[]) AS k(card_id, request_id)
           JOIN stand_in.decisions d USING (card_id, request_id)`,
        [batch.map((l) => l.cardId), batch.map((l) => l.requestId)],
      );
      const found = new Map<string, StandInAdvice>();
      for (const row of rows) {
        const advice = adviceOfRow(row);
        found.set(advice.adviceId, advice);
      }
      for (const lookup of batch) lookup.resolve(found.get(adviceIdOf(lookup)));
    } catch (error) {
      for (const lookup of batch) lookup.reject(error);
    }
  }

  async #poll(): Promise<void> {
    if (this.#closed) return;
    this.#notifiedDuringPoll = new Set();
    try {
      if (this.#listener === null) await this.#listen();
      const unapplied = await this.#pool.query<{ shard_id: number; n: number }>(
        `SELECT shard_id, count(*)::int AS n FROM stand_in.decisions
          WHERE applied_at IS NULL GROUP BY shard_id`,
      );
      const exposure = await this.#pool.query<{
        currency: string;
        outstanding: string;
        overshoot: string;
      }>(
        `SELECT currency, sum(outstanding)::text AS outstanding, sum(overshoot)::text AS overshoot
           FROM stand_in.exposure WHERE scope = 'account' GROUP BY currency`,
      );
      const unappliedByShard: Record<number, number> = {};
      for (const row of unapplied.rows) unappliedByShard[row.shard_id] = row.n;
      const shards = new Set([
        ...Object.keys(unappliedByShard).map(Number),
        ...this.#notifiedDuringPoll,
      ]);
      this.#unapplied = shards;
      this.#snapshot = {
        reachable: true,
        listening: this.#listener !== null,
        unappliedByShard,
        outstandingByCurrency: Object.fromEntries(
          exposure.rows.map((row) => [row.currency, BigInt(row.outstanding)]),
        ),
        overshootByCurrency: Object.fromEntries(
          exposure.rows.map((row) => [row.currency, BigInt(row.overshoot)]),
        ),
        lastError: null,
      };
    } catch (error) {
      this.#snapshot = {
        ...this.#snapshot,
        reachable: false,
        listening: this.#listener !== null,
        lastError: error instanceof Error ? error.message : String(error),
      };
    }
  }

  async #listen(): Promise<void> {
    const client = new pg.Client(this.#listenConfig);
    client.on('notification', (message) => {
      const shardId = Number(message.payload);
      if (!Number.isSafeInteger(shardId)) return;
      this.#unapplied.add(shardId);
      this.#notifiedDuringPoll.add(shardId);
    });
    client.on('error', () => {
      if (this.#listener === client) this.#listener = null;
      void client.end().catch(() => undefined);
    });
    client.on('end', () => {
      if (this.#listener === client) this.#listener = null;
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    if (this.#closed) {
      await client.end();
      return;
    }
    this.#listener = client;
  }
}

/**
 * Opens the registry on the catalog database at `witness` with a small pool of its own;
 * `close` ends both. `processName` defaults to host and pid.
 */
export async function openStandInRegistry(
  witness: pg.ClientConfig,
  processName = `${hostname()}:${process.pid}`,
): Promise<{ registry: StandInRegistry; close: () => Promise<void> }> {
  const pool = guardedPool({ ...witness, max: REGISTRY_POOL_SIZE_MAX });
  try {
    const registry = await StandInRegistry.open(pool, witness, { processName });
    return {
      registry,
      close: async () => {
        await registry.close();
        await pool.end();
      },
    };
  } catch (error) {
    await pool.end();
    throw error;
  }
}
