/**
 * The fleet a fault run works on, started the way an operator starts it: `mainstay up` (the
 * supervisor, its failover controller and the first API process) and, when the command exists,
 * `mainstay api` (a second API process on the same MAINSTAY_HOME). The suite sees them only
 * through HTTP and through the servers themselves, never through their objects.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../../src/config/load-config.ts';
import { pickFreePorts } from '../../../src/fleet/ports.ts';
import { CONFIG_SECTIONS } from '../../../src/modules.ts';
import { BIN, mainstay, type RunningUp, startUp, waitUntilUp } from '../cli.ts';
import { authHeaders } from '../demo-credentials.ts';
import { fleetFromTemplate, hasDefaultFleet } from '../platform-template.ts';
import { postgresProcessesUnder, removeHome, tempHome } from '../temp-home.ts';
import type { ApiProcess } from './chaos-http.ts';
import { FleetAccess } from './fleet-access.ts';

const API_START_MS_MAX = 60_000;
const STOP_MS_MAX = 60_000;

/** A running fleet with its API processes, and how to reach its servers. */
export interface ChaosPlatform {
  readonly home: string;
  readonly processes: readonly ApiProcess[];
  /** `false` while `mainstay api` does not exist: the load then runs on one process. */
  readonly secondProcess: boolean;
  readonly access: FleetAccess;
  /** What `mainstay up` printed (for a failure's report). */
  output(): string;
  /** Copies the servers' logs out of the home (deleted by `stop`); returns where. */
  keepLogs(): string;
  /** Whether `mainstay up` still runs (a run stops waiting on a fleet whose supervisor ended). */
  upRunning(): boolean;
  stop(): Promise<void>;
}

/** Whether this checkout has the `mainstay api` command. */
export function hasApiCommand(): boolean {
  const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
  return /^\s+api\b/m.test(help.stdout);
}

/**
 * Starts `mainstay up` in a fresh home with `configFile` as its config (with the default fleet,
 * copied from the platform's template), then `mainstay api` beside it when available.
 */
export async function startChaosPlatform(
  label: string,
  configFile: Record<string, unknown>,
): Promise<ChaosPlatform> {
  const home = tempHome(label);
  const configPath = path.join(home, 'mainstay.config.json');
  writeFileSync(configPath, JSON.stringify(configFile, null, 2));
  const [upPort, apiPort] = await pickFreePorts(2);
  const env = { MAINSTAY_HOME: home, MAINSTAY_CONFIG: configPath, MAINSTAY_PORT: String(upPort) };
  // The default fleet comes from the platform's template, as an environment's does.
  if (hasDefaultFleet(loadConfig({ cwd: home, env }, CONFIG_SECTIONS)))
    await fleetFromTemplate(home);
  const up = startUp(env);
  let api: RunningApi | null = null;
  try {
    const upUrl = await waitUntilUp(up);
    const { authorization } = authHeaders(home);
    const processes: ApiProcess[] = [{ name: 'up', url: upUrl, authorization }];
    if (hasApiCommand()) {
      api = startApi({ ...env, MAINSTAY_PORT: String(apiPort) });
      processes.push({ name: 'api', url: await api.url, authorization });
    }
    const access = await FleetAccess.open(home, upUrl);
    const running = api;
    return {
      home,
      processes,
      secondProcess: running !== null,
      access,
      output: () => up.output(),
      keepLogs: () => {
        const kept = mkdtempSync(path.join(os.tmpdir(), `${label}-logs-`));
        cpSync(path.join(home, 'logs'), kept, { recursive: true });
        writeFileSync(path.join(kept, 'mainstay-up.log'), up.output());
        return kept;
      },
      upRunning: () => up.child.exitCode === null && up.child.signalCode === null,
      stop: () => stopAll(home, env, up, running, access),
    };
  } catch (error) {
    await stopAll(home, env, up, api, null);
    throw error;
  }
}

interface RunningApi {
  readonly child: ChildProcess;
  readonly url: Promise<string>;
  readonly exited: Promise<unknown>;
}

/** `mainstay api`, resolved with its URL once it printed one. */
function startApi(env: Record<string, string>): RunningApi {
  const child = spawn(process.execPath, [BIN, 'api'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const exited = once(child, 'exit');
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`mainstay api did not come up:\n${text}`)),
      API_START_MS_MAX,
    );
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const match = /(http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`mainstay api ended:\n${text}`));
    });
  });
  url.catch(() => undefined);
  return { child, url, exited };
}

async function stopAll(
  home: string,
  env: Record<string, string>,
  up: RunningUp,
  api: RunningApi | null,
  access: FleetAccess | null,
): Promise<void> {
  await access?.close();
  if (api && api.child.exitCode === null) {
    api.child.kill('SIGTERM');
    await Promise.race([api.exited, sleep(STOP_MS_MAX)]);
    if (api.child.exitCode === null) api.child.kill('SIGKILL');
  }
  if (up.child.exitCode === null) {
    up.child.kill('SIGTERM');
    await Promise.race([up.exited, sleep(STOP_MS_MAX)]);
  }
  if (up.child.exitCode === null) up.child.kill('SIGKILL');
  // Servers a fault left running on their own (a tree the supervisor lost) are shot.
  mainstay(['down'], env);
  for (const pid of postgresProcessesUnder(home)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  removeHome(home);
}
