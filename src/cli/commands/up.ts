import { loadConfig } from '../../config/load-config.ts';
import { MainstayError } from '../../errors/mainstay-error.ts';
import { readLiveLock } from '../../fleet/fleet-lock.ts';
import { CONFIG_SECTIONS, MODULES } from '../../modules.ts';
import { startPlatform } from '../../platform/platform.ts';
import { Progress } from '../progress.ts';
import { renderTopology } from '../status-table.ts';

/**
 * `mainstay up`: provisions or restarts the fleet, loads demo data once, serves HTTP, and stays
 * in the foreground until SIGINT or SIGTERM, then stops the HTTP server and every PostgreSQL
 * server cleanly.
 */
export async function upCommand(): Promise<number> {
  const config = loadConfig(undefined, CONFIG_SECTIONS);
  // A second `up` on the same home must say the fleet runs, not that the port the first one
  // listens on is taken: the lock is checked before the port.
  const holder = readLiveLock(config.home);
  if (holder !== null && holder.pid !== process.pid) {
    throw new MainstayError(
      'fleet_running',
      `the fleet in ${config.home} is already supervised by process ${holder.pid}` +
        `${holder.httpUrl ? ` (serving ${holder.httpUrl})` : ''}; stop it with "mainstay down"`,
    );
  }
  const progress = new Progress();
  const started = Date.now();
  progress.step(`starting Mainstay in ${config.home}`);
  const stopRequested = waitForStopSignal();
  let platform: Awaited<ReturnType<typeof startPlatform>>;
  try {
    platform = await startPlatform({
      modules: MODULES,
      config,
      onProgress: (step) => progress.step(step),
      onServerExit: (id, detail) => process.stderr.write(`mainstay: server ${id} ${detail}\n`),
      logger: { level: 'warn' },
      demoData: process.env.MAINSTAY_DEMO_DATA !== 'off',
    });
  } catch (error) {
    progress.fail();
    throw error;
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  progress.done(
    `Mainstay is up at ${platform.url} in ${seconds}s${platform.demoLoaded ? ' (demo data loaded)' : ''}`,
  );
  process.stdout.write(`\n${renderTopology(await platform.fleet.topology())}\n\n`);
  process.stdout.write(
    `API docs: ${platform.url}/docs   health: ${platform.url}/health   stop: Ctrl-C or "npx mainstay down"\n`,
  );
  const signal = await stopRequested;
  process.stderr.write(
    `mainstay: ${signal} received, stopping the HTTP server and PostgreSQL servers\n`,
  );
  await platform.stop();
  process.stderr.write('mainstay: stopped cleanly\n');
  return 0;
}

/** Resolves on the first SIGINT or SIGTERM; later ones only say that shutdown is under way. */
export function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        process.stderr.write('mainstay: still stopping; the servers are shutting down\n');
        return;
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
