/**
 * Start-up benchmark: time from `mainstay up` to `GET /health` 200, cold (first provision of a
 * new home) and warm (restart of the same home), with the Mainstay process's CPU time to that
 * answer and its peak memory, side by side with a baseline measured in the same run: one bare
 * PostgreSQL server (initdb, then `postgres` until it accepts a connection) from the same
 * binaries. Then the HTTP server alone with every route, built in this process with its schemas
 * compiled at start (Fastify's default) and at their first use (Mainstay's, decision 3).
 *
 *   npm run bench:startup            # 3 rounds
 *   npm run bench:startup -- 5       # 5 rounds
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describedServer } from '../src/cli/commands/openapi.ts';
import { ensureTraversable, giveTo, postgresIdentity } from '../src/fleet/os-user.ts';
import { pickFreePorts } from '../src/fleet/ports.ts';
import { resolvePostgresBinaries } from '../src/fleet/postgres-binaries.ts';
import { PostgresServer } from '../src/fleet/postgres-server.ts';
import { initDataDir, SUPERUSER, writeSettings } from '../src/fleet/server-files.ts';

const ROUNDS = Number(process.argv[2] ?? 3);
const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'mainstay.js');
const HEALTH_TIMEOUT_MS = 120_000;
/** Builds of the HTTP server per way of compiling its schemas, after one of each to warm up. */
const SERVER_BUILDS = 7;

interface Run {
  readonly msToHealthy: number;
  /** CPU the Mainstay process used until /health answered 200 (its servers' not counted). */
  readonly cpuMsToHealthy: number;
  readonly peakRssMb: number;
}

/** Linux reports a process's CPU time in clock ticks of 1/100 s (`USER_HZ`). */
const MS_PER_CLOCK_TICK = 10;

/** Starts `mainstay up`, times it to /health 200, samples its peak RSS, stops it. */
async function timeMainstay(home: string, port: number): Promise<Run> {
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, 'up'], {
    env: { ...process.env, MAINSTAY_HOME: home, MAINSTAY_PORT: String(port) },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}/health`;
  let msToHealthy = Number.NaN;
  let cpuMsToHealthy = Number.NaN;
  while (performance.now() - started < HEALTH_TIMEOUT_MS) {
    const ok = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) {
      msToHealthy = performance.now() - started;
      cpuMsToHealthy = cpuMs(child.pid);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const peakRssMb = peakRss(child.pid);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  if (Number.isNaN(msToHealthy)) throw new Error('mainstay never became healthy');
  return { msToHealthy, cpuMsToHealthy, peakRssMb };
}

/**
 * User plus system CPU time of a running process, in ms: a steadier figure than its wall time
 * on a shared machine, where other work stretches the wall time but not this.
 */
function cpuMs(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name (which may hold spaces, hence the last ')'): state is
  // the 3rd field of the line, utime and stime the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * MS_PER_CLOCK_TICK;
}

/** VmHWM: the highest resident set size the process reached, in MiB. */
function peakRss(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/** Baseline: one bare PostgreSQL server, initdb plus start until it accepts a connection. */
async function timeBarePostgres(dir: string, port: number): Promise<number> {
  const binaries = await resolvePostgresBinaries(null);
  const identity = await postgresIdentity();
  ensureTraversable(dir, identity);
  giveTo(dir, identity);
  const dataDir = path.join(dir, 'server', 'data');
  const started = performance.now();
  await initDataDir({ dataDir, password: 'bench', binaries, identity });
  writeSettings(dataDir, {
    id: 'bench',
    host: '127.0.0.1',
    port,
    synchronousCommit: 'on',
    synchronousStandby: null,
    synchronizedStandbySlot: null,
    upstream: null,
    extra: {},
  });
  const server = new PostgresServer({
    id: 'bench',
    dataDir,
    logFile: path.join(dir, 'bench.log'),
    connection: { host: '127.0.0.1', port, user: SUPERUSER, password: 'bench' },
    binaries,
    identity,
  });
  await server.start();
  const elapsed = performance.now() - started;
  await server.stop();
  return elapsed;
}

/**
 * Builds the HTTP server with every route of the platform until it is ready, and answers its
 * wall time and this process's CPU time for it: with every request validator and response
 * serializer compiled at start (Fastify's default) or each at its first use (Mainstay's).
 */
async function timeServerBuild(compileSchemasAtStart: boolean): Promise<[number, number]> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const app = await describedServer(compileSchemasAtStart);
  await app.ready();
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  await app.close();
  return [elapsed, (cpu.user + cpu.system) / 1000];
}

function summary(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  return `median ${median.toFixed(0).padStart(6)}   min ${sorted[0]?.toFixed(0).padStart(6)}   max ${sorted.at(-1)?.toFixed(0).padStart(6)}`;
}

const cold: Run[] = [];
const warm: Run[] = [];
const bare: number[] = [];
for (let round = 1; round <= ROUNDS; round += 1) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'mainstay-bench-'));
  const [httpPort = 0, barePort = 0] = await pickFreePorts(2);
  try {
    bare.push(
      await timeBarePostgres(mkdtempSync(path.join(os.tmpdir(), 'mainstay-bare-')), barePort),
    );
    cold.push(await timeMainstay(home, httpPort));
    warm.push(await timeMainstay(home, httpPort));
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  process.stderr.write(`round ${round}/${ROUNDS} done\n`);
}

// The HTTP server alone, built in this process, the two ways alternated (after one of each, so
// that neither pays for loading the modules).
const serverBuilds = { eager: [] as number[][], lazy: [] as number[][] };
await timeServerBuild(true);
await timeServerBuild(false);
for (let build = 0; build < SERVER_BUILDS; build += 1) {
  serverBuilds.eager.push(await timeServerBuild(true));
  serverBuilds.lazy.push(await timeServerBuild(false));
}

const line = (label: string, text: string) => console.log(`${label.padEnd(46)} ${text}`);
console.log(
  `\nstart-up, ${ROUNDS} rounds, ${os.cpus().length} cores (times and CPU in ms, memory in MiB)\n`,
);
line('baseline: one bare PostgreSQL (initdb + start)', summary(bare));
line('mainstay cold: provision 5 servers, to /health 200', summary(cold.map((r) => r.msToHealthy)));
line('mainstay warm: restart, to /health 200', summary(warm.map((r) => r.msToHealthy)));
line('mainstay process CPU to /health 200, cold', summary(cold.map((r) => r.cpuMsToHealthy)));
line('mainstay process CPU to /health 200, warm', summary(warm.map((r) => r.cpuMsToHealthy)));
line('mainstay process peak RSS, cold', summary(cold.map((r) => r.peakRssMb)));
line('mainstay process peak RSS, warm', summary(warm.map((r) => r.peakRssMb)));
console.log(
  `\nthe HTTP server with every route, built until ready, ${SERVER_BUILDS} builds each way\n`,
);
const column = (builds: number[][], index: number) => builds.map((build) => build[index] ?? 0);
line('schemas compiled at start (Fastify default)', summary(column(serverBuilds.eager, 0)));
line('schemas compiled at first use (Mainstay)', summary(column(serverBuilds.lazy, 0)));
line('  CPU, compiled at start', summary(column(serverBuilds.eager, 1)));
line('  CPU, compiled at first use', summary(column(serverBuilds.lazy, 1)));
console.log('\ntargets: cold < 20000 ms, warm < 5000 ms');
