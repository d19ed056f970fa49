import { loadConfig } from '../../config/load-config.ts';
import { readLiveLock } from '../../fleet/fleet-lock.ts';
import type { HealthReport, TopologySnapshot } from '../../fleet/topology-snapshot.ts';
import { CONFIG_SECTIONS } from '../../modules.ts';
import { NOT_RUNNING_EXIT, operatorCredential } from '../operator-credential.ts';

export { NOT_RUNNING_EXIT };

import { renderTopology } from '../status-table.ts';

export const STATUS_TIMEOUT_MS = 15_000;

/** `mainstay status [--json]`: the running fleet's topology, from its HTTP server. */
export async function statusCommand(options: { json?: boolean }): Promise<number> {
  const { home } = loadConfig(undefined, CONFIG_SECTIONS);
  const lock = readLiveLock(home);
  if (!lock?.httpUrl) {
    if (options.json) process.stdout.write(`${JSON.stringify({ running: false, home })}\n`);
    else process.stdout.write(`Mainstay is not running in ${home}\n`);
    return NOT_RUNNING_EXIT;
  }
  const [topology, health] = await Promise.all([
    getJson<TopologySnapshot>(`${lock.httpUrl}/v1/topology`, operatorCredential(home)),
    getJson<HealthReport>(`${lock.httpUrl}/health`),
  ]);
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ running: true, home, url: lock.httpUrl, pid: lock.pid, health, topology }, null, 2)}\n`,
    );
  } else {
    const summary = health.ready ? 'healthy' : 'NOT READY';
    process.stdout.write(
      `Mainstay ${summary} at ${lock.httpUrl} (process ${lock.pid}, home ${home})\n`,
    );
    process.stdout.write(`${renderTopology(topology)}\n`);
  }
  return health.ready ? 0 : 1;
}

async function getJson<T>(url: string, credential: string | null = null): Promise<T> {
  const response = await fetch(url, {
    signal: AbortSignal.timeout(STATUS_TIMEOUT_MS),
    headers: credential === null ? {} : { authorization: `Bearer ${credential}` },
  });
  return (await response.json()) as T;
}
