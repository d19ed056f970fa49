import { createHash } from 'node:crypto';
import pg from 'pg';
import type { JobLease } from './job-lease.ts';

/** Options of an {@link AdvisoryLockLease}. */
export interface AdvisoryLockLeaseOptions {
  /** The database the locks live in (the catalog database on the witness, for Mainstay). */
  readonly connection: pg.ClientConfig;
  /** Prefix of every lock's key, so two uses of one database never share a lock. */
  readonly namespace?: string;
  /** Bound on opening the lease's connection. */
  readonly connectTimeoutMs?: number;
  /** Bound on one lock statement: a hung database reads as "cannot tell", not as a hang. */
  readonly queryTimeoutMs?: number;
}

const DEFAULTS = { namespace: 'mainstay.jobs', connectTimeoutMs: 1_500, queryTimeoutMs: 2_000 };

/**
 * A {@link JobLease} on PostgreSQL session-level advisory locks, one per job name, held on one
 * connection of this lease's own. A lock lives exactly as long as the session, so a holder whose
 * process dies (or whose connection breaks) loses it at once, with no expiry to wait out and no
 * table to create; a holder that stops gives it back (`pg_advisory_unlock`). While it holds a
 * lock, `tryAcquire` checks the session is alive (a round trip) before each run, and on any error
 * the connection is dropped, so what this lease believes never outlives its session.
 *
 * @example
 * const lease = new AdvisoryLockLease({ connection: { ...witness, database: 'mainstay_catalog' } });
 * jobs.add({ name: 'idempotency-prune', lease, intervalMs: 3_600_000, runTimeoutMs: 600_000, run });
 * // on shutdown, after jobs.stop():
 * await lease.close();
 */
export class AdvisoryLockLease implements JobLease {
  readonly #options: typeof DEFAULTS & AdvisoryLockLeaseOptions;
  readonly #held = new Set<string>();
  #client: Promise<pg.Client> | null = null;
  #closed = false;

  constructor(options: AdvisoryLockLeaseOptions) {
    this.#options = { ...DEFAULTS, ...options };
  }

  /** The 64-bit lock key of a job name (a SHA-256 prefix of the namespaced name). */
  keyOf(job: string): string {
    const digest = createHash('sha256').update(`${this.#options.namespace}:${job}`).digest();
    return digest.readBigInt64BE(0).toString();
  }

  async tryAcquire(job: string): Promise<boolean> {
    if (this.#closed) return false;
    const client = await this.#connect();
    try {
      if (this.#held.has(job)) {
        // The session is alive, so its lock is still held.
        await client.query('SELECT 1');
        return true;
      }
      const { rows } = await client.query<{ held: boolean }>(
        'SELECT pg_try_advisory_lock($1::bigint) AS held',
        [this.keyOf(job)],
      );
      const held = rows[0]?.held === true;
      if (held) this.#held.add(job);
      return held;
    } catch (error) {
      await this.#drop();
      throw error;
    }
  }

  async release(job: string): Promise<void> {
    if (!this.#held.delete(job) || !this.#client) return;
    const client = await this.#client;
    try {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [this.keyOf(job)]);
    } catch (error) {
      // Unsure whether it was released: ending the session releases it for certain.
      await this.#drop();
      throw error;
    }
  }

  /** Gives back every lock (the session ends) and refuses to take more. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#drop();
  }

  #connect(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    const { connection, connectTimeoutMs, queryTimeoutMs } = this.#options;
    const client = new pg.Client({
      application_name: 'mainstay-job-lease',
      ...connection,
      connectionTimeoutMillis: connectTimeoutMs,
      query_timeout: queryTimeoutMs,
      keepAlive: true,
    });
    const connecting: Promise<pg.Client> = client.connect().then(
      () => client,
      async (error: unknown) => {
        if (this.#client === connecting) this.#client = null;
        await client.end().catch(() => undefined);
        throw error;
      },
    );
    // A broken session has lost its locks: forget them; the next tryAcquire reconnects.
    client.on('error', () => {
      if (this.#client === connecting) void this.#drop();
    });
    this.#client = connecting;
    return connecting;
  }

  async #drop(): Promise<void> {
    const connecting = this.#client;
    this.#client = null;
    this.#held.clear();
    if (!connecting) return;
    const client = await connecting.catch(() => null);
    await client?.end().catch(() => undefined);
  }
}
