/**
 * Ledger benchmark (decision 49): the ledger engine (`LedgerEngine.submit`, micro-batches on the
 * shared per-shard engine, one `ledger_apply_batch` call per batch) side by side with a plain
 * one-transaction-per-request transfer on the same tables, in the same run on the same fleet:
 *   1. transfers/s and p50/p99 over a ramp of concurrent clients up to a spike, in three
 *      profiles: uniform (between random customer accounts of a shard), one hot account (every
 *      transfer credits one settlement account: striped for the engine, one plain row for the
 *      baseline), ten hot accounts; with the CPU of the fleet and of this process per transfer;
 *   2. two-phase transfers (pending, then post) through the engine;
 *   3. cross-shard transfers through the coordinator (start, then driven to posted);
 *   4. the fence a bucket move leaves on a shard's books (a trigger on each ledger table): the
 *      engine's uniform transfers with it and without it, alternating;
 *   5. the books of every shard checked after the run.
 *
 *   npm run bench:ledger               (every scenario)
 *   npm run bench:ledger -- transfers  (the scenarios whose title holds a word)
 */
import os from 'node:os';
import { IDEMPOTENCY_MIGRATIONS } from '../src/data/idempotency.ts';
import { CrossShardDriver } from '../src/domains/ledger/core/cross-shard/cross-shard-driver.ts';
import { CrossShardTransfers } from '../src/domains/ledger/core/cross-shard/cross-shard-transfers.ts';
import { LedgerAccountService } from '../src/domains/ledger/core/ledger-account-service.ts';
import { LedgerEngine } from '../src/domains/ledger/core/ledger-engine.ts';
import { LEDGER_MIGRATIONS } from '../src/domains/ledger/sql/ledger-migrations.ts';
import { checkLedgerBooks } from '../src/domains/ledger/store/ledger-checks.ts';
import { pinnedTablesOf } from '../src/fleet/bucket-move-plan.ts';
import { installFences, installMachinery } from '../src/fleet/bucket-move-sql.ts';
import type { ConnectionInfo } from '../src/postgres/connection-pools.ts';
import { startFleet } from '../test/support/fleet-fixture.ts';
import { OneTransactionLedger } from './ledger/one-transaction-ledger.ts';
import {
  type BaselineSide,
  baselineOp,
  type CrossShardSide,
  crossShardOp,
  type EngineSide,
  engineOp,
  PROFILES,
  twoPhaseOp,
} from './ledger/profiles.ts';
import { fundCustomers, retrying, seedCustomers, seedPlainHotAccounts } from './ledger/seed.ts';
import { runStage, type StageResult } from './ledger/stage.ts';
import { cpuByRole } from './support/process-cpu.ts';
import { printTable, type SummaryRow } from './support/report.ts';
import { ScenarioRunner } from './support/scenario-runner.ts';

const SETUP = {
  /** Customer wallets per side (engine, baseline), spread over the shards. */
  customersPerSide: 10_000,
  /** What each wallet is funded with before the run (minor units), so none runs dry. */
  funding: 1_000_000_000_000n,
  hotAccountsMax: 10,
  /** The ramp: concurrent clients per stage, the last one the spike (as Double-11's). */
  stages: [16, 64, 256, 1_024],
  stageMs: 3_000,
  twoPhaseStages: [256, 1_024],
  /**
   * Connections per shard primary, the same for both: the engine's router (per server and
   * shard database) and the baseline's plain pool (per shard database). The engine keeps one
   * batch in flight per shard, so it uses few of them; the baseline can use them all.
   */
  poolSizeMax: 16,
  /** Targets from the issue. */
  hotShareMin: 0.8,
  speedupMin: 30,
} as const;

const runner = new ScenarioRunner();
const argv = process.argv.slice(2);
const command = `npm run bench:ledger${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;

const n0 = (value: number) => Math.round(value).toLocaleString('en-US');
const ms1 = (value: number) => (Number.isNaN(value) ? '-' : `${value.toFixed(1)} ms`);
const us0 = (value: number | undefined) =>
  value === undefined || !Number.isFinite(value) ? '-' : `${n0(value)} us`;
const pct = (value: number) => `${(value * 100).toFixed(0)}%`;

function list(entries: Readonly<Record<string, number>>): string {
  return (
    Object.entries(entries)
      .map(([key, count]) => `${key} ${count}`)
      .join(', ') || '0'
  );
}

function stageRow(profile: string, system: string, result: StageResult): string[] {
  const { posted = 0, ...refused } = result.statuses;
  return [
    profile,
    system,
    String(result.concurrency),
    n0(result.opsPerSecond),
    ms1(result.p50Ms),
    ms1(result.p99Ms),
    n0(result.ops),
    list(refused),
    list(result.errors),
    us0(result.cpu?.totalUsPerOp),
    us0(result.cpu?.postgresUsPerOp),
    us0(result.cpu?.thisProcessUsPerOp),
    result.cpu ? result.cpu.coreShare.toFixed(2) : '-',
    result.otherCores === null ? '-' : result.otherCores.toFixed(2),
  ];
}

const STAGE_HEADER = [
  'profile',
  'system',
  'clients',
  'transfers/s',
  'p50',
  'p99',
  'answered',
  'not posted',
  'errors',
  'CPU/transfer',
  'postgres',
  'node',
  'cores',
  'others',
];

const started = performance.now();
console.log(
  `Ledger benchmark, ${os.cpus().length} cores (every server of the fleet on this machine), ` +
    `Node ${process.version}, load average ${os
      .loadavg()
      .map((load) => load.toFixed(1))
      .join(' ')}\n` +
    `command: ${command}`,
);
const fixture = await startFleet('bench-ledger', {}, [IDEMPOTENCY_MIGRATIONS, LEDGER_MIGRATIONS]);
let engine: LedgerEngine | null = null;
let baseline: OneTransactionLedger | null = null;
try {
  const setupStarted = performance.now();
  const runId = `bl${Date.now().toString(36)}`;
  const seeder = await fixture.router({ applicationName: 'bench-ledger-seed' });
  // The engine on a router of its own, as its doc asks; the account service on another.
  engine = new LedgerEngine(
    await fixture.router({
      applicationName: 'bench-ledger-engine',
      poolSizeMax: SETUP.poolSizeMax,
    }),
  );
  const accounts = new LedgerAccountService(
    await fixture.router({ applicationName: 'bench-ledger-accounts' }),
  );
  const primaries = new Map<number, ConnectionInfo>();
  for (const shardId of seeder.map.shardIds) {
    const primary = seeder.map.route(shardId).primary;
    if (primary === null) throw new Error(`shard ${shardId} has no primary`);
    primaries.set(shardId, fixture.fleet.connection(primary.id));
  }
  baseline = new OneTransactionLedger(primaries, SETUP.poolSizeMax);

  const funding = await retrying(() =>
    accounts.openInstitutionAccount({
      code: `${runId}-funding`,
      kind: 'suspense',
      currency: 'CNY',
    }),
  );
  const hotCodes: string[] = [];
  for (let n = 0; n < SETUP.hotAccountsMax; n += 1) {
    const code = `${runId}-merchant-${n}`;
    await retrying(() =>
      accounts.openInstitutionAccount({
        code,
        kind: 'settlement',
        currency: 'CNY',
        counterparty: `acquirer-${n}`,
      }),
    );
    hotCodes.push(code);
  }
  const engineCustomers = await seedCustomers(seeder, SETUP.customersPerSide);
  const baselineCustomers = await seedCustomers(seeder, SETUP.customersPerSide);
  const hotRows = await seedPlainHotAccounts(seeder, SETUP.hotAccountsMax);
  await fundCustomers(
    engine,
    accounts,
    funding.code,
    [engineCustomers, baselineCustomers],
    SETUP.funding,
    runId,
  );
  // Every stripe id read once (with retries), so the stages' stripeNear calls answer from the
  // service's cache and never read.
  for (const code of hotCodes)
    for (const shardId of seeder.map.shardIds)
      await retrying(() => accounts.stripesOn(code, 'CNY', shardId));
  const engineSide: EngineSide = { engine, accounts, customers: engineCustomers, hotCodes };
  const baselineSide: BaselineSide = { ledger: baseline, customers: baselineCustomers, hotRows };
  const stripesPerShard = (
    await accounts.stripesOn(hotCodes[0] as string, 'CNY', seeder.map.shardIds[0] as number)
  ).length;
  console.log(
    `\n${seeder.map.shardIds.length} shards; ${n0(SETUP.customersPerSide)} guarded customer wallets ` +
      `per side (engine, baseline), funded through the engine; engine hot accounts striped ` +
      `(${stripesPerShard} stripes per shard, the payer's shard's picked by stripeNear), baseline ` +
      `hot accounts one plain row each (its payers drawn from its shard); ` +
      `${SETUP.poolSizeMax} connections per shard primary for each side; ` +
      `set up in ${((performance.now() - setupStarted) / 1_000).toFixed(0)} s`,
  );

  const spikeClients = SETUP.stages.at(-1) as number;
  const ledgerEngine = engine;
  await runner.run(
    '1. transfers: engine vs one transaction per request, three profiles, ramp to a spike',
    async () => {
      const rows: string[][] = [];
      /** `profile system` -> result at the spike; and the best stage of each. */
      const spike = new Map<string, StageResult>();
      const best = new Map<string, StageResult>();
      let seed = 1;
      // Every profile at one client count before the next count, so the figures compared at
      // the spike are taken within seconds of each other on a machine whose load moves.
      for (const concurrency of SETUP.stages) {
        for (const profile of PROFILES) {
          const systems = [
            ['engine', engineOp(engineSide, profile, `${runId}-e${seed}`, seed)],
            ['one-tx', baselineOp(baselineSide, profile, `${runId}-b${seed}`, seed + 1)],
          ] as const;
          seed += 2;
          for (const [system, op] of systems) {
            const result = await runStage(op, concurrency, SETUP.stageMs);
            rows.push(stageRow(profile.label, system, result));
            const key = `${profile.label} ${system}`;
            if (concurrency === spikeClients) spike.set(key, result);
            if ((best.get(key)?.opsPerSecond ?? -1) < result.opsPerSecond) best.set(key, result);
            process.stderr.write(`  ${key} at ${concurrency}: ${n0(result.opsPerSecond)}/s\n`);
          }
        }
      }
      console.log(
        `\n${SETUP.stageMs / 1_000} s per stage, closed loop (each client sends its next transfer ` +
          'when its last is answered), one transfer per engine call; CPU per transfer from ' +
          '/proc: this process and the PostgreSQL servers it started (primaries, replicas, ' +
          'logical copies); cores: what they kept busy; others: cores kept busy meanwhile by ' +
          'processes outside this benchmark (other fleets and test runs on the machine)\n',
      );
      rows.sort(
        (a, b) =>
          PROFILES.findIndex((p) => p.label === a[0]) - PROFILES.findIndex((p) => p.label === b[0]),
      );
      printTable(STAGE_HEADER, rows);
      const stats = ledgerEngine.stats;
      console.log(
        `\nengine batches: ${n0(stats.batches)} for ${n0(stats.requests)} requests ` +
          `(mean ${(stats.requests / Math.max(1, stats.batches)).toFixed(1)}, largest ${stats.batchSizeMax}; ` +
          'funding and two-phase included)',
      );
      const uniformSpike = spike.get('uniform engine');
      if (uniformSpike?.cpuSamples) {
        const baselineSpike = spike.get('uniform one-tx');
        const engineRoles = cpuByRole(
          uniformSpike.cpuSamples.before,
          uniformSpike.cpuSamples.after,
          uniformSpike.seconds,
          uniformSpike.ops,
        );
        const baselineRoles = baselineSpike?.cpuSamples
          ? cpuByRole(
              baselineSpike.cpuSamples.before,
              baselineSpike.cpuSamples.after,
              baselineSpike.seconds,
              baselineSpike.ops,
            )
          : [];
        const roles = [...new Set([...engineRoles, ...baselineRoles].map((row) => row.role))];
        console.log(
          `\nwhere the CPU went at the spike (${spikeClients} clients, uniform profile), per process ` +
            'role (this process runs the clients and, for the engine, the engine):\n',
        );
        printTable(
          [
            'process',
            'engine: per transfer',
            'engine: cores',
            'one-tx: per transfer',
            'one-tx: cores',
          ],
          roles.map((role) => {
            const e = engineRoles.find((row) => row.role === role);
            const b = baselineRoles.find((row) => row.role === role);
            return [
              role,
              us0(e?.usPerOp),
              e ? pct(e.coreShare) : '-',
              us0(b?.usPerOp),
              b ? pct(b.coreShare) : '-',
            ];
          }),
        );
      }
      const tps = (key: string) => spike.get(key)?.opsPerSecond ?? 0;
      /** A stage a target may be judged on: it answered, and nothing failed. */
      const clean = (key: string) => {
        const result = spike.get(key);
        return result !== undefined && result.ops > 0 && Object.keys(result.errors).length === 0;
      };
      const failedNote = (...keys: string[]) => {
        const failed = keys.filter((key) => !clean(key));
        return failed.length === 0 ? '' : `; not judged, errors in: ${failed.join(', ')}`;
      };
      const summary: SummaryRow[] = [
        {
          figure: `engine transfers/s at the spike (${spikeClients} clients), uniform`,
          value: n0(tps('uniform engine')),
          target: 'none set',
          met: null,
        },
        {
          figure: 'engine peak transfers/s over the ramp, uniform',
          value: `${n0(best.get('uniform engine')?.opsPerSecond ?? 0)} (${best.get('uniform engine')?.concurrency} clients)`,
          target: 'none set',
          met: null,
        },
      ];
      for (const profile of PROFILES.filter((p) => p.hotAccounts > 0)) {
        const keys = [`${profile.label} engine`, 'uniform engine'];
        const share = tps(`${profile.label} engine`) / Math.max(1, tps('uniform engine'));
        summary.push({
          figure: `engine ${profile.label} vs uniform at the spike`,
          value: `${pct(share)} (${n0(tps(`${profile.label} engine`))}/s${failedNote(...keys)})`,
          target: `>= ${pct(SETUP.hotShareMin)}`,
          met: keys.every(clean) && share >= SETUP.hotShareMin,
        });
      }
      for (const profile of PROFILES) {
        const keys = [`${profile.label} engine`, `${profile.label} one-tx`];
        const ratio = tps(`${profile.label} engine`) / Math.max(1, tps(`${profile.label} one-tx`));
        summary.push({
          figure: `engine vs one-tx at the spike, ${profile.label}`,
          value: `${ratio.toFixed(1)}x (${n0(tps(`${profile.label} one-tx`))}/s one-tx${failedNote(...keys)})`,
          target: `>= ${SETUP.speedupMin}x`,
          met: keys.every(clean) && ratio >= SETUP.speedupMin,
        });
      }
      for (const profile of PROFILES.filter((p) => p.hotAccounts > 0)) {
        const hot = spike.get(`${profile.label} engine`)?.cpu?.totalUsPerOp;
        const uniform = spike.get('uniform engine')?.cpu?.totalUsPerOp;
        if (hot === undefined || uniform === undefined) continue;
        if (!clean(`${profile.label} engine`) || !clean('uniform engine')) continue;
        summary.push({
          figure: `engine CPU per transfer, ${profile.label} vs uniform at the spike`,
          value: `${pct(hot / uniform)} (${us0(hot)} vs ${us0(uniform)})`,
          target: 'none set',
          met: null,
        });
      }
      for (const system of ['engine', 'one-tx']) {
        const cpu = spike.get(`uniform ${system}`)?.cpu;
        summary.push({
          figure: `CPU per transfer at the spike, uniform, ${system} (postgres + node)`,
          value: cpu
            ? `${us0(cpu.totalUsPerOp)} (${us0(cpu.postgresUsPerOp)} + ${us0(cpu.thisProcessUsPerOp)})`
            : 'no /proc',
          target: 'none set',
          met: null,
        });
      }
      return summary;
    },
  );

  await runner.run('2. two-phase transfers (pending + post) through the engine', async () => {
    const rows: string[][] = [];
    const results: StageResult[] = [];
    for (const [n, concurrency] of SETUP.twoPhaseStages.entries()) {
      const result = await runStage(
        twoPhaseOp(engineSide, `${runId}-2p${n}`, 100 + n),
        concurrency,
        SETUP.stageMs,
      );
      results.push(result);
      rows.push(stageRow('uniform', 'engine 2-phase', result));
      process.stderr.write(`  two-phase at ${concurrency}: ${n0(result.opsPerSecond)}/s\n`);
    }
    console.log(
      `${SETUP.stageMs / 1_000} s per stage; each client reserves (pending, one call), then posts ` +
        'it in full (a second call) when the reservation is answered; a pair counts once, its ' +
        'latency is both calls\n',
    );
    printTable(STAGE_HEADER, rows);
    return results.map((result) => ({
      figure: `two-phase transfers/s (pending + post), ${result.concurrency} clients`,
      value: `${n0(result.opsPerSecond)} (p99 ${ms1(result.p99Ms)})`,
      target: 'none set',
      met: null,
    }));
  });

  await runner.run('3. cross-shard transfers through the coordinator', async () => {
    const transitCode = `${runId}-in-transit`;
    await retrying(() =>
      accounts.openInstitutionAccount({ code: transitCode, kind: 'in_transit', currency: 'CNY' }),
    );
    for (const shardId of seeder.map.shardIds)
      await retrying(() => accounts.stripesOn(transitCode, 'CNY', shardId));
    const coordinatorRouter = await fixture.router({ applicationName: 'bench-ledger-cross-shard' });
    const side: CrossShardSide = {
      ...engineSide,
      transfers: new CrossShardTransfers(coordinatorRouter, { transitCode }),
      driver: new CrossShardDriver(coordinatorRouter, engineSide.engine, accounts, { transitCode }),
    };
    const rows: string[][] = [];
    const results: StageResult[] = [];
    for (const [n, concurrency] of SETUP.twoPhaseStages.entries()) {
      const result = await runStage(
        crossShardOp(side, `${runId}-x${n}`, 200 + n),
        concurrency,
        SETUP.stageMs,
      );
      results.push(result);
      rows.push(stageRow('cross-shard', 'engine + coordinator', result));
      process.stderr.write(`  cross-shard at ${concurrency}: ${n0(result.opsPerSecond)}/s\n`);
    }
    console.log(
      `${SETUP.stageMs / 1_000} s per stage; two customer wallets on different shards; each client ` +
        'starts the transfer (leg 1 and the coordinator row in one transaction) and drives it to ' +
        'its final state itself (CrossShardDriver.drive: credit leg, both posts), so a transfer ' +
        'counts once it is posted on both shards and its latency is all of it\n',
    );
    printTable(STAGE_HEADER, rows);
    return results.map((result) => ({
      figure: `cross-shard transfers/s (start to posted), ${result.concurrency} clients`,
      value: `${n0(result.opsPerSecond)} (p99 ${ms1(result.p99Ms)})`,
      target: 'none set',
      met: null,
    }));
  });

  await runner.run('4. the fence a bucket move leaves on the books', async () => {
    const fleet = fixture.fleet;
    const bucketCount = seeder.map.snapshot.bucketCount;
    const shardIds = seeder.map.shardIds;
    const homes = await Promise.all(shardIds.map((shardId) => fleet.shardPool(shardId, 'home')));
    const pinned = await pinnedTablesOf(homes[0] as (typeof homes)[number], [LEDGER_MIGRATIONS]);
    /** As after a move away: the triggers, and a moved bucket no row here names any more. */
    const fence = async (on: boolean) => {
      for (const [index, home] of homes.entries()) {
        const shardId = shardIds[index] as number;
        const gone = seeder.map.snapshot.buckets.find((range) => range.shardId !== shardId)
          ?.first as number;
        await installMachinery(home);
        if (on) {
          await home.query(
            `INSERT INTO mainstay.bucket_moves (bucket, state, to_shard) VALUES ($1, 'moved', 0)
             ON CONFLICT (bucket) DO NOTHING`,
            [gone],
          );
          await installFences(home, { moved: [], pinned }, bucketCount, gone);
        } else {
          for (const table of pinned)
            await home.query(`DROP TRIGGER IF EXISTS mainstay_bucket_move ON ${table.name}`);
          await home.query('DELETE FROM mainstay.bucket_moves WHERE bucket = $1', [gone]);
        }
      }
    };
    const uniform = PROFILES.find((profile) => profile.hotAccounts === 0) as (typeof PROFILES)[0];
    const clients = 256;
    const rows: string[][] = [];
    const totals = { off: 0, on: 0 };
    let seed = 900;
    try {
      for (const on of [false, true, false, true]) {
        await fence(on);
        const op = engineOp(engineSide, uniform, `${runId}-f${seed}`, seed);
        seed += 1;
        const result = await runStage(op, clients, SETUP.stageMs);
        totals[on ? 'on' : 'off'] += result.opsPerSecond / 2;
        rows.push(stageRow(uniform.label, on ? 'engine, fenced' : 'engine', result));
      }
    } finally {
      await fence(false);
    }
    console.log(
      `\n${pinned.length} ledger tables with the fence's trigger on every shard, alternating ` +
        `without and with it, ${SETUP.stageMs / 1_000} s each\n`,
    );
    printTable(STAGE_HEADER, rows);
    return [
      {
        figure: `engine transfers/s with the fence vs without (${clients} clients, uniform)`,
        value: `${pct(totals.on / Math.max(1, totals.off))} (${n0(totals.on)} vs ${n0(totals.off)}/s)`,
        target: 'none set',
        met: null,
      },
    ];
  });

  await runner.run('5. books after the run (ledger_check_books on every shard)', async () => {
    let breaks = 0;
    const rows: string[][] = [];
    for (const shardId of seeder.map.shardIds) {
      const { value } = await retrying(() =>
        seeder.readShard(shardId, (db) => checkLedgerBooks(db), { consistency: 'primary' }),
      );
      breaks += value.length;
      const { value: counts } = await retrying(() =>
        seeder.readShard(
          shardId,
          (db) =>
            db.query<{ transfers: string; postings: string }>(
              `SELECT (SELECT count(*) FROM public.ledger_transfers)::text AS transfers,
                    (SELECT count(*) FROM public.ledger_postings)::text AS postings`,
            ),
          { consistency: 'primary' },
        ),
      );
      const count = counts.rows[0];
      rows.push([
        String(shardId),
        n0(Number(count?.transfers ?? 0)),
        n0(Number(count?.postings ?? 0)),
        String(value.length),
      ]);
      for (const found of value.slice(0, 3))
        console.log(
          `  shard ${shardId}: ${found.check} ${found.subject}: ${found.expected} / ${found.actual}`,
        );
    }
    printTable(['shard', 'transfers', 'postings', 'breaks'], rows);
    return [
      {
        figure: 'breaks in the books (every shard)',
        value: String(breaks),
        target: '0',
        met: breaks === 0,
      },
    ];
  });
} finally {
  await engine?.close().catch(() => undefined);
  await baseline?.close().catch(() => undefined);
  await fixture.stop();
}
runner.finish(started);
console.log(`command: ${command}`);
