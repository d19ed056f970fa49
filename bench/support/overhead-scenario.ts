import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { inlineParameters } from '../../src/data/inline-parameters.ts';
import type { Router } from '../../src/data/router.ts';
import type { ConsistencyLevel } from '../../src/data/router-options.ts';
import { guardedPool } from '../../src/postgres/guarded-pool.ts';
import type { FleetFixture } from '../../test/support/fleet-fixture.ts';
import { type LoopResult, median, quantile, runClosedLoop } from './closed-loop.ts';
import { printTable, type SummaryRow } from './report.ts';

export const OVERHEAD = {
  concurrency: 8,
  /**
   * Many short rounds rather than a few long ones: the fleet's background work (checkpoints,
   * the replicas' and copies' apply, probes) lands on both sides of a comparison alike. Rounds
   * go in pairs, one in each order (the case that runs first in a group runs right after the
   * previous group, often in the wake of its writes), and a comparison's ratio is the median
   * over pairs of each pair's summed p50s: a ratio per single round would carry the order
   * effect and split into two clusters, and a median of those jumps between them.
   */
  opCount: 1_000,
  warmUpOpCount: 500,
  roundCount: 22,
  /** Keys per key set; a multiple of `concurrency` so that each writer has keys of its own. */
  keyCount: 64,
  /** Same as the router's default `poolSizeMax`. */
  poolSizeMax: 16,
  ratioMax: 1.1,
  replicaHealthyWaitMs: 5_000,
} as const;

const READ_SQL = 'SELECT version FROM router_checks WHERE key = $1';
const UPSERT_SQL = `INSERT INTO router_checks (key, version) VALUES ($1, $2)
  ON CONFLICT (key) DO UPDATE SET version = EXCLUDED.version`;

interface Case {
  readonly name: string;
  readonly server: string;
  readonly op: (client: number, n: number) => Promise<unknown>;
}

/** Router case vs the bare-pool case it is compared with. */
interface Comparison {
  readonly label: string;
  readonly router: string;
  readonly baseline: string;
  /** Whether the ratio is held to the target (else it is shown to explain the others). */
  readonly targeted: boolean;
  /** An untargeted ratio that also goes into the summary, beside the targeted ones. */
  readonly summarised?: boolean;
}

const COMPARISONS: readonly Comparison[] = [
  {
    label: 'read, primary',
    router: 'router read primary',
    baseline: 'bare read primary',
    targeted: true,
  },
  {
    label: 'read, session+token',
    router: 'router read session, store off',
    baseline: 'bare read replica',
    targeted: true,
  },
  {
    // The default: the shared recent-write store is asked at once with the replica (decision 35).
    label: 'read, session+token, shared store',
    router: 'router read session',
    baseline: 'bare read replica',
    targeted: true,
  },
  {
    label: 'read, shared store on / off',
    router: 'router read session',
    baseline: 'router read session, store off',
    targeted: false,
    summarised: true,
  },
  { label: 'read, any', router: 'router read any', baseline: 'bare read replica', targeted: true },
  {
    // A write through the router returns a token, which needs the WAL position after COMMIT
    // (one more statement, in the same message). The bare driver giving the same guarantee
    // sends the same queries; that is the router's overhead proper.
    label: 'write, same queries',
    router: 'router write, store off',
    baseline: 'bare write as router message',
    targeted: true,
  },
  {
    // The default: the write is recorded in the shared store before it is acknowledged.
    label: 'write, same queries, shared store',
    router: 'router write',
    baseline: 'bare write as router message',
    targeted: false,
    summarised: true,
  },
  {
    label: 'write, shared store on / off',
    router: 'router write',
    baseline: 'router write, store off',
    targeted: false,
    summarised: true,
  },
  {
    label: 'write vs autocommit upsert',
    router: 'router write, store off',
    baseline: 'bare write',
    targeted: false,
    summarised: true,
  },
  {
    label: 'write, token signed',
    router: 'router write + signed token',
    baseline: 'bare write as router message',
    targeted: false,
  },
  {
    label: 'same queries vs autocommit',
    router: 'bare write as router message',
    baseline: 'bare write',
    targeted: false,
  },
  {
    label: 'write, callback tx form',
    router: 'router write tx',
    baseline: 'bare write as router tx',
    targeted: false,
  },
];

/** Keys of one shard, found by trying candidates against the shard map. */
function keysOfShard(router: Router, shardId: number, prefix: string, count: number): string[] {
  const keys: string[] = [];
  for (let n = 0; keys.length < count; n += 1) {
    const key = `${prefix}_${n}`;
    if (router.map.shardOf(key) === shardId) keys.push(key);
  }
  return keys;
}

async function waitHealthy(router: Router, serverId: string): Promise<void> {
  const deadline = Date.now() + OVERHEAD.replicaHealthyWaitMs;
  while (!router.monitor.observe(serverId).healthy) {
    if (Date.now() > deadline) throw new Error(`replica ${serverId} never became healthy`);
    await sleep(50);
  }
}

/** What the cases run against: the shard's two servers, bare pools on them, keys and a token. */
interface Target {
  readonly router: Router;
  /** The same router with the shared recent-write store off (`sharedRecentWrites: false`). */
  readonly plain: Router;
  readonly primary: string;
  readonly replica: string;
  readonly primaryPool: pg.Pool;
  readonly replicaPool: pg.Pool;
  readonly readKeys: readonly string[];
  readonly writeKeys: readonly string[];
  /** A token for the shard, older than every read: session reads need only it. */
  readonly token: string;
  /** Where router reads were served, as "level:target" counts. */
  readonly served: Map<string, number>;
}

/** The cases, in groups whose members are compared with one another. */
function buildCases(t: Target): Case[][] {
  const readKey = (n: number) => t.readKeys[n % t.readKeys.length] as string;
  const writeKey = (client: number, n: number) => {
    const perClient = OVERHEAD.keyCount / OVERHEAD.concurrency;
    return t.writeKeys[client + OVERHEAD.concurrency * (n % perClient)] as string;
  };
  const routerRead =
    (consistency: ConsistencyLevel, router = t.plain) =>
    async (_c: number, n: number) => {
      const key = readKey(n);
      const result = await router.read(key, (db) => db.query(READ_SQL, [key]), {
        consistency,
        token: consistency === 'session' ? t.token : null,
      });
      const tally = `${consistency}:${result.target}`;
      t.served.set(tally, (t.served.get(tally) ?? 0) + 1);
    };
  const { primary, replica, primaryPool, replicaPool } = t;
  return [
    [
      { name: 'router read primary', server: primary, op: routerRead('primary') },
      {
        name: 'bare read primary',
        server: primary,
        op: (_c, n) => primaryPool.query(READ_SQL, [readKey(n)]),
      },
    ],
    [
      { name: 'router read session', server: replica, op: routerRead('session', t.router) },
      { name: 'router read session, store off', server: replica, op: routerRead('session') },
      { name: 'router read any', server: replica, op: routerRead('any') },
      {
        name: 'bare read replica',
        server: replica,
        op: (_c, n) => replicaPool.query(READ_SQL, [readKey(n)]),
      },
    ],
    [
      {
        name: 'router write',
        server: primary,
        op: (c, n) => t.router.writeStatement(writeKey(c, n), UPSERT_SQL, [writeKey(c, n), n]),
      },
      {
        name: 'router write, store off',
        server: primary,
        op: (c, n) => t.plain.writeStatement(writeKey(c, n), UPSERT_SQL, [writeKey(c, n), n]),
      },
      {
        // The same write whose caller also takes the token's string form (signs it), as an
        // HTTP handler that returns it in a header does.
        name: 'router write + signed token',
        server: primary,
        op: async (c, n) =>
          (await t.plain.writeStatement(writeKey(c, n), UPSERT_SQL, [writeKey(c, n), n])).token,
      },
      {
        name: 'router write tx',
        server: primary,
        op: (c, n) =>
          t.plain.write(writeKey(c, n), (tx) => tx.query(UPSERT_SQL, [writeKey(c, n), n])),
      },
      {
        name: 'bare write',
        server: primary,
        op: (c, n) => primaryPool.query(UPSERT_SQL, [writeKey(c, n), n]),
      },
      {
        name: 'bare write as router tx',
        server: primary,
        op: (c, n) => bareTransaction(primaryPool, writeKey(c, n), n),
      },
      {
        // What writeStatement sends, through the bare pool: BEGIN, the upsert with its values
        // inlined, COMMIT and the commit position, in one message.
        name: 'bare write as router message',
        server: primary,
        op: (c, n) =>
          primaryPool.query(
            `BEGIN; ${inlineParameters(UPSERT_SQL, [writeKey(c, n), n])}; COMMIT; SELECT pg_current_wal_insert_lsn()::text AS lsn`,
          ),
      },
    ],
  ];
}

/**
 * Router overhead: the same point read and single-row upsert through the router and through a
 * bare `pg.Pool` on the server the router sends it to, same concurrency and op count, in
 * alternating rounds; `router` has the shared recent-write store on (the default), `plain` off,
 * so its cost shows side by side. Prints the table and returns the summary rows.
 */
export async function runOverhead(
  fixture: FleetFixture,
  router: Router,
  plain: Router,
): Promise<SummaryRow[]> {
  const shardId = router.map.shardOf('bench_overhead');
  const route = router.map.route(shardId);
  const primary = route.primary?.id;
  const replica = route.replicas[0]?.id;
  if (!primary || !replica) throw new Error(`shard ${shardId} has no primary and replica`);
  const bare = (id: string) => {
    const pool = guardedPool({
      ...fixture.fleet.connection(id),
      database: route.shard.database,
      max: OVERHEAD.poolSizeMax,
    });
    return pool;
  };
  const primaryPool = bare(primary);
  const replicaPool = bare(replica);
  try {
    const readKeys = keysOfShard(router, shardId, 'bench_read', OVERHEAD.keyCount);
    const writeKeys = keysOfShard(router, shardId, 'bench_write', OVERHEAD.keyCount);
    for (const key of [...readKeys, ...writeKeys]) await primaryPool.query(UPSERT_SQL, [key, 0]);
    // Read keys are never written again, so session reads need only the token's position.
    const { token } = await router.write(writeKeys[0], (tx) =>
      tx.query(UPSERT_SQL, [writeKeys[0], 0]),
    );
    await waitHealthy(router, replica);
    const served = new Map<string, number>();
    await waitHealthy(plain, replica);
    const target = {
      router,
      plain,
      primary,
      replica,
      primaryPool,
      replicaPool,
      readKeys,
      writeKeys,
      token,
      served,
    };
    const groups = buildCases(target);
    const rounds = await runRounds(groups);
    served.clear();
    // One more short pass only to see where each read level was served.
    const reads = groups.flat().filter((entry) => /router read (session|any)/.test(entry.name));
    for (const entry of reads) await runClosedLoop(200, OVERHEAD.concurrency, entry.op);
    return report(groups.flat(), rounds, served);
  } finally {
    await primaryPool.end();
    await replicaPool.end();
  }
}

/** The router's write transaction, by hand: BEGIN, the upsert, COMMIT plus the WAL position. */
async function bareTransaction(pool: pg.Pool, key: string, n: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(UPSERT_SQL, [key, n]);
    await client.query('COMMIT; SELECT pg_current_wal_insert_lsn()::text AS lsn');
  } finally {
    client.release();
  }
}

/**
 * A warm-up of every case, then `roundCount` rounds; within a group the order alternates from
 * round to round (A B, B A, ...) so that drift on a shared machine falls on both sides.
 */
async function runRounds(groups: readonly Case[][]): Promise<Map<string, LoopResult[]>> {
  const results = new Map<string, LoopResult[]>();
  for (const group of groups) {
    for (const entry of group) {
      await runClosedLoop(OVERHEAD.warmUpOpCount, OVERHEAD.concurrency, entry.op);
      results.set(entry.name, []);
    }
  }
  for (let round = 0; round < OVERHEAD.roundCount; round += 1) {
    for (const group of groups) {
      const ordered = round % 2 === 0 ? group : [...group].reverse();
      for (const entry of ordered) {
        const result = await runClosedLoop(OVERHEAD.opCount, OVERHEAD.concurrency, entry.op);
        results.get(entry.name)?.push(result);
      }
    }
    process.stderr.write(`  overhead round ${round + 1}/${OVERHEAD.roundCount} done\n`);
  }
  return results;
}

function report(
  cases: readonly Case[],
  rounds: ReadonlyMap<string, readonly LoopResult[]>,
  served: ReadonlyMap<string, number>,
): SummaryRow[] {
  const of = (name: string) => rounds.get(name) ?? [];
  const med = (name: string, pick: (r: LoopResult) => number) => median(of(name).map(pick));
  console.log(
    `${OVERHEAD.concurrency} concurrent clients, ${OVERHEAD.opCount} ops per case per round ` +
      `after ${OVERHEAD.warmUpOpCount} warm-up ops; median over ${OVERHEAD.roundCount / 2} pairs of rounds (one in each order)\n`,
  );
  printTable(
    ['case', 'server', 'p50', 'p99', 'ops/s', 'bench CPU/op'],
    cases.map((entry) => [
      entry.name,
      entry.server,
      `${med(entry.name, (r) => r.p50Ms).toFixed(3)} ms`,
      `${med(entry.name, (r) => r.p99Ms).toFixed(3)} ms`,
      med(entry.name, (r) => r.opsPerSecond).toFixed(0),
      `${med(entry.name, (r) => r.cpuUsPerOp).toFixed(1)} us`,
    ]),
  );
  console.log('');
  const summary: SummaryRow[] = [];
  const rows = COMPARISONS.map((comparison) => {
    const ratios = pairedRatios(of(comparison.router), of(comparison.baseline));
    const ratio = median(ratios);
    const target = comparison.targeted ? `<= ${OVERHEAD.ratioMax.toFixed(2)}` : '(explains)';
    if (comparison.targeted || comparison.summarised) {
      summary.push({
        figure: `router overhead p50 ratio, ${comparison.label}`,
        value: ratio.toFixed(2),
        target: comparison.targeted ? target : 'shown, not targeted',
        met: comparison.targeted ? ratio <= OVERHEAD.ratioMax : null,
      });
    }
    return [
      comparison.label,
      `${comparison.router} / ${comparison.baseline}`,
      ratio.toFixed(2),
      `${quantileOf(ratios, 0.25).toFixed(2)} - ${quantileOf(ratios, 0.75).toFixed(2)}`,
      target,
    ];
  });
  printTable(['p50 overhead', 'router / baseline', 'median', 'quartiles', 'target'], rows);
  const tallies = [...served].map(([key, count]) => `${key} ${count}`).join(', ');
  console.log(`\nwhere router reads were served (200 extra reads each): ${tallies}`);
  return summary;
}

function quantileOf(values: readonly number[], q: number): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    q,
  );
}

/** Per pair of rounds (one in each order): the router's summed p50 over the baseline's. */
function pairedRatios(router: readonly LoopResult[], baseline: readonly LoopResult[]): number[] {
  const ratios: number[] = [];
  for (let round = 0; round + 1 < router.length; round += 2) {
    const mine = (router[round]?.p50Ms ?? Number.NaN) + (router[round + 1]?.p50Ms ?? Number.NaN);
    const theirs =
      (baseline[round]?.p50Ms ?? Number.NaN) + (baseline[round + 1]?.p50Ms ?? Number.NaN);
    ratios.push(mine / theirs);
  }
  return ratios;
}
