/**
 * Environment benchmark (decision 56): the time to create a ready two-DC environment (its fleet
 * up with both replicas streaming and every shard copy replicating, schema migrated, demo
 * credentials made, its API serving), side by side with a baseline measured in the same run:
 * the plain cold path, a fresh `mainstay up` on a new home (initdb, migrations, replicas
 * built, copies' first sync) until it serves. Neither loads the demo data set, so both do the
 * same work apart from what the template saves. A creation normally takes a spare copy of the
 * template made after the one before (the warm pool); creations that copy while they wait are
 * timed too. The template's one-off build (the first creation of a home) is reported alone.
 *
 *   node --import tsx bench/ops-env.ts            # 3 rounds each
 *   node --import tsx bench/ops-env.ts rounds=5
 *
 * `bench/ops.ts` runs it as one stage through {@link runEnvironmentStage}.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/load-config.ts';
import {
  createEnvironment,
  destroyEnvironment,
  prepareSpare,
} from '../src/environments/environments.ts';
import { readLiveLock } from '../src/fleet/fleet-lock.ts';
import { CONFIG_SECTIONS, MODULES } from '../src/modules.ts';
import { catalogMigrationsOf, shardMigrationsOf } from '../src/platform/platform.ts';
import { postgresProcessesUnder, removeHome, tempHome } from '../test/support/temp-home.ts';
import { heading, printSummary, printTable } from './support/report.ts';

/** The target of the environments work: a ready two-DC environment in under 10 s. */
export const ENVIRONMENT_READY_TARGET_MS = 10_000;
const BIN = fileURLToPath(new URL('../bin/mainstay.js', import.meta.url));
const BASELINE_READY_WAIT_MS = 180_000;

/** What the stage measured, in milliseconds. */
export interface EnvironmentStageResult {
  readonly rounds: number;
  /** Creations taking a spare copy of the template (the warm pool; the usual case). */
  readonly environmentMs: readonly number[];
  /** Creations copying the template while they wait (no spare ready). */
  readonly copyingMs: readonly number[];
  /** Fresh `mainstay up` on new homes until they serve. */
  readonly baselineMs: readonly number[];
  /** The first creation of a home: template build included. */
  readonly firstCreateMs: number;
  readonly met: boolean;
}

interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] as number)
      : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted.at(-1) as number };
}

const seconds = (value: number) => `${(value / 1000).toFixed(2)} s`;

/** Baseline: `mainstay up` on a new home, timed until its fleet lock records its URL. */
async function timeColdUp(): Promise<number> {
  const home = tempHome('bench-env-cold');
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, 'up'], {
    env: { ...process.env, MAINSTAY_HOME: home, MAINSTAY_PORT: '0', MAINSTAY_DEMO_DATA: 'off' },
    stdio: 'ignore',
  });
  const exited = once(child, 'exit');
  try {
    while (performance.now() - started < BASELINE_READY_WAIT_MS) {
      const lock = readLiveLock(home);
      if (lock && lock.pid === child.pid && lock.httpUrl) return performance.now() - started;
      if (child.exitCode !== null) break;
      await sleep(25);
    }
    throw new Error(`mainstay up in ${home} did not serve`);
  } finally {
    child.kill('SIGTERM');
    await exited;
    removeHome(home);
  }
}

/** Creates (and times) one environment under `parentHome`, then destroys it. */
async function timeCreate(parentHome: string, name: string, steps: string[]): Promise<number> {
  const parent = loadConfig(
    { cwd: parentHome, env: { MAINSTAY_HOME: parentHome } },
    CONFIG_SECTIONS,
  );
  const started = performance.now();
  const environment = await createEnvironment({
    parent,
    name,
    demo: false,
    schema: {
      shardMigrations: shardMigrationsOf(MODULES),
      catalogMigrations: catalogMigrationsOf(MODULES),
    },
    onProgress: (step) => steps.push(`${seconds(performance.now() - started)}  ${step}`),
  });
  const took = performance.now() - started;
  const health = await fetch(`${environment.url}/health`);
  if (health.status !== 200) throw new Error(`environment ${name} answered ${health.status}`);
  await destroyEnvironment(parentHome, name);
  if (postgresProcessesUnder(environment.home).length > 0)
    throw new Error(`environment ${name} left PostgreSQL processes behind`);
  return took;
}

/**
 * Runs the stage: the first creation (template build included), `rounds` creations from the
 * template and `rounds` cold `mainstay up`s, alternating so that both meet the same machine.
 */
export async function runEnvironmentStage(
  options: { readonly rounds?: number } = {},
): Promise<EnvironmentStageResult> {
  const rounds = options.rounds ?? 3;
  heading('environments: time to a ready two-DC environment');
  const parentHome = tempHome('bench-env');
  try {
    const firstSteps: string[] = [];
    const firstCreateMs = await timeCreate(parentHome, 'first', firstSteps);
    const environmentMs: number[] = [];
    const copyingMs: number[] = [];
    const baselineMs: number[] = [];
    let lastSteps: string[] = [];
    for (let round = 1; round <= rounds; round += 1) {
      lastSteps = [];
      // Untimed, as after every creation: the spare the next one takes.
      if ((await prepareSpare(parentHome)) !== 1) throw new Error('no spare copy made');
      environmentMs.push(await timeCreate(parentHome, `spare-${round}`, lastSteps));
      copyingMs.push(await timeCreate(parentHome, `copy-${round}`, []));
      baselineMs.push(await timeColdUp());
      console.log(
        `round ${round}: environment ${seconds(environmentMs.at(-1) as number)} (copying: ${seconds(copyingMs.at(-1) as number)}), cold up ${seconds(baselineMs.at(-1) as number)}`,
      );
    }
    console.log(`\nfirst creation of the home (template built): ${seconds(firstCreateMs)}`);
    for (const step of firstSteps) console.log(`  ${step}`);
    console.log('a creation from the template:');
    for (const step of lastSteps) console.log(`  ${step}`);
    const env = spread(environmentMs);
    const copying = spread(copyingMs);
    const cold = spread(baselineMs);
    console.log('');
    printTable(
      ['path', 'median', 'min', 'max'],
      [
        ['env create (spare copy ready)', seconds(env.median), seconds(env.min), seconds(env.max)],
        [
          'env create (copying the template)',
          seconds(copying.median),
          seconds(copying.min),
          seconds(copying.max),
        ],
        ['baseline: cold mainstay up', seconds(cold.median), seconds(cold.min), seconds(cold.max)],
      ],
    );
    console.log('');
    const met = env.median < ENVIRONMENT_READY_TARGET_MS;
    printSummary([
      {
        figure: 'ready two-DC environment (median)',
        value: `${seconds(env.median)} (${(cold.median / env.median).toFixed(1)}x faster than cold)`,
        target: `< ${seconds(ENVIRONMENT_READY_TARGET_MS)}`,
        met,
      },
    ]);
    return { rounds, environmentMs, copyingMs, baselineMs, firstCreateMs, met };
  } finally {
    removeHome(parentHome);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const roundsArg = process.argv.slice(2).find((word) => word.startsWith('rounds='));
  const rounds = roundsArg ? Number(roundsArg.slice('rounds='.length)) : 3;
  console.log(
    `Environment benchmark, Node ${process.version}, ${path.basename(BIN)} up vs env create`,
  );
  const result = await runEnvironmentStage({ rounds });
  process.exitCode = result.met ? 0 : 1;
}
