import { loadConfig } from '../../config/load-config.ts';
import {
  createEnvironment,
  destroyEnvironment,
  type Environment,
  listEnvironments,
  prepareSpare,
} from '../../environments/environments.ts';
import { CONFIG_SECTIONS, MODULES } from '../../modules.ts';
import { catalogMigrationsOf, shardMigrationsOf } from '../../platform/platform.ts';
import { Progress } from '../progress.ts';
import { renderTable } from '../status-table.ts';

/**
 * `mainstay env create NAME [--demo] [--json]`: an isolated environment under MAINSTAY_HOME
 * (its own two-DC fleet and API, running in the background), ready when the command returns.
 */
export async function envCreateCommand(
  name: string,
  options: { demo?: boolean; json?: boolean },
): Promise<number> {
  const parent = loadConfig(undefined, CONFIG_SECTIONS);
  const progress = new Progress();
  progress.step(`creating environment ${name} in ${parent.home}`);
  let environment: Environment;
  try {
    environment = await createEnvironment({
      parent,
      name,
      demo: options.demo === true,
      schema: {
        shardMigrations: shardMigrationsOf(MODULES),
        catalogMigrations: catalogMigrationsOf(MODULES),
      },
      onProgress: (step) => progress.step(step),
    });
  } catch (error) {
    progress.fail();
    throw error;
  }
  const seconds = ((environment.createMs ?? 0) / 1000).toFixed(1);
  progress.done(`environment ${environment.name} is ready in ${seconds}s`);
  if (options.json) process.stdout.write(`${JSON.stringify(environment, null, 2)}\n`);
  else printEnvironment(environment);
  // The next creation takes this copy instead of making one while its caller waits.
  const spare = new Progress();
  spare.step('copying the template ahead of the next environment');
  await prepareSpare(parent.home);
  spare.done('spare copy ready');
  return 0;
}

function printEnvironment(environment: Environment): void {
  process.stdout.write(
    [
      `  API:         ${environment.url}   (docs ${environment.url}/docs)`,
      `  home:        ${environment.home}`,
      `  credentials: ${environment.credentialsFile}`,
      `  demo data:   ${environment.demo ? 'loaded' : 'none (credentials only)'}`,
      `  use it:      MAINSTAY_HOME=${environment.home} npx mainstay status`,
      `  remove it:   npx mainstay env destroy ${environment.name}`,
      '',
    ].join('\n'),
  );
}

/** `mainstay env list [--json]`: the environments under MAINSTAY_HOME. */
export async function envListCommand(options: { json?: boolean }): Promise<number> {
  const { home } = loadConfig(undefined, CONFIG_SECTIONS);
  const environments = listEnvironments(home);
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ data: environments }, null, 2)}\n`);
    return 0;
  }
  if (environments.length === 0) {
    process.stdout.write(`no environments in ${home}\n`);
    return 0;
  }
  const rows = environments.map((env) => [
    env.name,
    env.status,
    env.url ?? '-',
    env.demo ? 'yes' : 'no',
    env.createMs === null ? '-' : `${(env.createMs / 1000).toFixed(1)}s`,
    env.home,
  ]);
  process.stdout.write(
    `${renderTable(['NAME', 'STATUS', 'URL', 'DEMO', 'CREATED IN', 'HOME'], rows)}\n`,
  );
  return 0;
}

/** `mainstay env destroy NAME`: stops the environment's API and servers, deletes its home. */
export async function envDestroyCommand(name: string): Promise<number> {
  const { home } = loadConfig(undefined, CONFIG_SECTIONS);
  await destroyEnvironment(home, name);
  process.stdout.write(`destroyed environment ${name}\n`);
  return 0;
}
