import type { Router } from '../../src/data/router.ts';
import type { FleetFixture } from './fleet-fixture.ts';

/**
 * Reads and writes of `router_checks` (one row per key with a version), shared by the router
 * tests and the stale-read benchmark.
 */

/** Raises a key's version (never lowers it: concurrent writers of one key stay monotonic). */
export function setVersion(router: Router, key: string, version: number, token?: string) {
  return router.write(
    key,
    (tx) =>
      tx.query(
        `INSERT INTO router_checks (key, version) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET version = GREATEST(router_checks.version, EXCLUDED.version)`,
        [key, version],
      ),
    { token: token ?? null },
  );
}

/** Reads a key's version through the router (`-1` when the row is not there). */
export async function readVersion(
  router: Router,
  key: string,
  options: Parameters<Router['read']>[2],
) {
  const result = await router.read(
    key,
    async (db) =>
      (
        await db.query<{ version: string }>('SELECT version FROM router_checks WHERE key = $1', [
          key,
        ])
      ).rows[0],
    options,
  );
  return { ...result, version: result.value ? Number(result.value.version) : -1 };
}

/** Pauses (or resumes) WAL replay on the replicas: a forced, growing lag. */
export async function pauseReplay(
  fixture: FleetFixture,
  paused: boolean,
  replicas: readonly string[] = ['dc1-b', 'dc2-b'],
): Promise<void> {
  const sql = paused ? 'SELECT pg_wal_replay_pause()' : 'SELECT pg_wal_replay_resume()';
  for (const id of replicas) await fixture.fleet.pools.pool(id).query(sql);
}
