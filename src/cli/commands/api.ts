import { loadConfig } from '../../config/load-config.ts';
import { CONFIG_SECTIONS, MODULES } from '../../modules.ts';
import { startApiProcess } from '../../platform/api-process.ts';
import { VERSION } from '../../platform/platform.ts';
import { waitForStopSignal } from './up.ts';

/**
 * `mainstay api [--port N]`: starts one more API process on the fleet that `mainstay up` runs
 * in the same MAINSTAY_HOME (or on the external servers the config names), serving the same
 * routes on its own port (`--port`, else MAINSTAY_PORT), until SIGINT or SIGTERM. It prints a
 * line with its URL once it listens, which scripts and load balancers can wait for.
 */
export async function apiCommand(options: { port?: string }): Promise<number> {
  const env =
    options.port === undefined ? process.env : { ...process.env, MAINSTAY_PORT: options.port };
  const config = loadConfig({ cwd: process.cwd(), env }, CONFIG_SECTIONS);
  const stopRequested = waitForStopSignal();
  const api = await startApiProcess({
    modules: MODULES,
    config,
    version: VERSION,
    logger: { level: 'warn' },
    onProgress: (step) => process.stderr.write(`mainstay api: ${step}\n`),
  });
  process.stdout.write(`Mainstay API process is up at ${api.url} (fleet in ${config.home})\n`);
  const signal = await stopRequested;
  process.stderr.write(`mainstay api: ${signal} received, stopping\n`);
  await api.stop();
  process.stderr.write('mainstay api: stopped cleanly\n');
  return 0;
}
