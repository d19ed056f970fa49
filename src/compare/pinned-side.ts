import type pg from 'pg';

/**
 * One side of a comparison read at one moment: `parallel` connections in REPEATABLE READ
 * transactions sharing one snapshot (the first exports it, the others import it), so chunks
 * read at once on several connections all see the same committed data. A server that cannot
 * export a snapshot (a hot standby may refuse) is read on one connection instead.
 */
export class PinnedSide {
  readonly #clients: pg.PoolClient[];
  readonly #tails: Promise<unknown>[];
  #next = 0;

  private constructor(clients: pg.PoolClient[]) {
    this.#clients = clients;
    this.#tails = clients.map(() => Promise.resolve());
  }

  /** Opens the side's transactions; `parallel` is an upper bound (at least one connection). */
  static async open(pool: pg.Pool, parallel: number): Promise<PinnedSide> {
    const first = await pool.connect();
    const clients = [first];
    try {
      await first.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      let snapshot: string | null = null;
      if (parallel > 1) {
        snapshot = await first
          .query<{ id: string }>('SELECT pg_export_snapshot() AS id')
          .then((result) => result.rows[0]?.id ?? null)
          .catch(() => null);
        // A refused export aborted the transaction: begin again, on this connection alone.
        if (snapshot === null) {
          await first.query('ROLLBACK');
          await first.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        }
      }
      if (snapshot !== null) {
        for (let n = 1; n < parallel; n += 1) {
          const client = await pool.connect();
          clients.push(client);
          await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
          await client.query(`SET TRANSACTION SNAPSHOT '${snapshot.replaceAll("'", "''")}'`);
        }
      }
      // Pins the snapshot now: it is taken at a transaction's first query, not at BEGIN. No
      // parallel workers: a comparison takes one core per connection from a serving server.
      await Promise.all(
        clients.map((client) =>
          client.query("SELECT set_config('max_parallel_workers_per_gather', '0', true)"),
        ),
      );
      return new PinnedSide(clients);
    } catch (error) {
      for (const client of clients) client.release(true);
      throw error;
    }
  }

  /** Runs one query in the pinned snapshot, on the side's connections in turn. */
  query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    const at = this.#next;
    this.#next = (this.#next + 1) % this.#clients.length;
    const client = this.#clients[at] as pg.PoolClient;
    const run = (this.#tails[at] as Promise<unknown>)
      .catch(() => undefined)
      .then(() => client.query<R>(text, values))
      .then((result) => result.rows);
    this.#tails[at] = run;
    return run;
  }

  /** Ends the transactions and gives the connections back. */
  async close(): Promise<void> {
    await Promise.all(
      this.#clients.map(async (client, at) => {
        await (this.#tails[at] as Promise<unknown>).catch(() => undefined);
        const ended = await client.query('COMMIT').then(
          () => true,
          () => false,
        );
        client.release(!ended);
      }),
    );
  }
}
