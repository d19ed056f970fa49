import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { isMainstayError } from '../errors/mainstay-error.ts';

/**
 * Each command's module is imported when that command runs, not before: a command loads only
 * what it uses (`status` never loads the HTTP server's routes, `--help` loads no command), so a
 * short command starts in a fraction of the time of loading every command's dependencies.
 */
const commands = {
  admit: () => import('./commands/admit.ts'),
  api: () => import('./commands/api.ts'),
  audit: () => import('./commands/audit.ts'),
  destroy: () => import('./commands/destroy.ts'),
  down: () => import('./commands/down.ts'),
  env: () => import('./commands/env.ts'),
  envServe: () => import('./commands/env-serve.ts'),
  openapi: () => import('./commands/openapi.ts'),
  ops: () => import('./commands/ops.ts'),
  reseed: () => import('./commands/reseed.ts'),
  status: () => import('./commands/status.ts'),
  up: () => import('./commands/up.ts'),
};

/** The package version, read here rather than from the platform (which loads every module). */
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** The `mainstay` command line: the operator's entry point. */
const program = new Command()
  .name('mainstay')
  .description('Mainstay: a two-data-centre PostgreSQL fleet and the money services on it')
  .version(VERSION)
  .showHelpAfterError();

/** Runs a command and makes its result the process exit status. */
function run<A extends unknown[]>(action: (...args: A) => Promise<number>) {
  return async (...args: A) => {
    process.exitCode = await action(...args);
  };
}

/** Runs the command `name` of the module `load` imports, imported only now. */
function lazy<M extends Record<K, (...args: never[]) => Promise<number>>, K extends keyof M>(
  load: () => Promise<M>,
  name: K,
) {
  return run(async (...args: Parameters<M[K]>) => (await load())[name](...args));
}

program
  .command('up')
  .description(
    'provision (first run) or restart the fleet, load demo data, serve HTTP; Ctrl-C stops',
  )
  .action(lazy(commands.up, 'upCommand'));
program
  .command('api')
  .description(
    'start one more API process on the running fleet (same MAINSTAY_HOME), on its own port; Ctrl-C stops',
  )
  .option('--port <port>', 'HTTP port (default: MAINSTAY_PORT, else the config)')
  .action(lazy(commands.api, 'apiCommand'));
program
  .command('down')
  .description('stop a running Mainstay and its PostgreSQL servers')
  .action(lazy(commands.down, 'downCommand'));
program
  .command('status')
  .description('show servers, roles, WAL positions, lag and shards')
  .option('--json', 'print JSON for machines')
  .action(lazy(commands.status, 'statusCommand'));
program
  .command('destroy')
  .description("delete MAINSTAY_HOME with every server's data")
  .option('--yes', 'do not ask for confirmation')
  .action(lazy(commands.destroy, 'destroyCommand'));
program
  .command('reseed')
  .description("re-seed a returning data centre's shard copies (after a data-centre loss)")
  .argument('<dataCentre>', 'the returning data centre, e.g. dc1')
  .option('--json', 'print JSON for machines')
  .action(lazy(commands.reseed, 'reseedCommand'));
program
  .command('audit')
  .description('the audit trail')
  .command('verify')
  .description("check every shard's audit hash chain; exit 1 when one is broken")
  .option('--shard <shardId>', 'only this shard')
  .option('--json', 'print JSON for machines')
  .action(lazy(commands.audit, 'auditVerifyCommand'));
const ops = program.command('ops').description('ops workflows: start, follow, list, approve');
ops
  .command('run')
  .description('start a workflow (or, with --module, one module) and follow it live')
  .argument('<name>', 'a workflow (GET /v1/ops/workflows) or a module (GET /v1/ops/modules)')
  .option('--input <json>', 'the input, a JSON object', '{}')
  .option('--module', 'run one module alone')
  .option('--json', 'print JSON for machines')
  .action(lazy(commands.ops, 'opsRunCommand'));
ops
  .command('list')
  .description('runs, newest first')
  .option('--status <status>', 'only runs in this status')
  .option('--json', 'print JSON for machines')
  .action(lazy(commands.ops, 'opsListCommand'));
ops
  .command('show')
  .description('one run and its steps')
  .argument('<runId>')
  .option('--watch', 'follow its events live until it ends or waits for a decision')
  .option('--json', 'print JSON for machines')
  .action(lazy(commands.ops, 'opsShowCommand'));
for (const verb of ['approve', 'reject'] as const) {
  ops
    .command(verb)
    .description(`${verb} the step a run waits on, as the staff session in MAINSTAY_SESSION`)
    .argument('<runId>')
    .option('--reason <text>', 'why')
    .action(
      run(async (runId: string, options: { reason?: string }) =>
        (await commands.ops()).opsDecideCommand(verb, runId, options),
      ),
    );
}
program
  .command('compare')
  .description("compare a shard's table with the other DC's copy (or its replica), live")
  .argument('<shard>', 'the shard id')
  .argument('<table>', 'the table, e.g. demo_customers')
  .option('--against <side>', 'copy or replica', 'copy')
  .option('--json', 'print JSON for machines')
  .action(lazy(commands.ops, 'compareCommand'));
const env = program
  .command('env')
  .description('isolated environments under MAINSTAY_HOME, each its own fleet and API');
env
  .command('create')
  .description('create an environment and start it in the background; ready when it returns')
  .argument('<name>', 'lower-case letters, digits and hyphens, e.g. alice-test')
  .option('--demo', 'load the demo data set (customers, card accounts)')
  .option('--json', 'print JSON for machines')
  .action(lazy(commands.env, 'envCreateCommand'));
env
  .command('list')
  .description('list the environments, with their state and URL')
  .option('--json', 'print JSON for machines')
  .action(lazy(commands.env, 'envListCommand'));
env
  .command('destroy')
  .description("stop an environment's API and servers and delete its home")
  .argument('<name>', 'the environment')
  .action(lazy(commands.env, 'envDestroyCommand'));
env
  .command('serve', { hidden: true })
  .description("an environment's supervisor, started by env create: up once its copy is made")
  .action(lazy(commands.envServe, 'envServeCommand'));
program
  .command('admit')
  .description(
    'ask the admission gate for a decision on a change request (a JSON file, or - for stdin)',
  )
  .argument('<file>', 'the change request as JSON, or - to read it from stdin')
  .option('--json', 'print JSON for machines')
  .option('--idempotency-key <key>', 'retry an earlier run: answers its decision')
  .action(lazy(commands.admit, 'admitCommand'));
program
  .command('openapi')
  .description('print the OpenAPI document')
  .action(lazy(commands.openapi, 'openApiCommand'));

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (isMainstayError(error)) {
    process.stderr.write(`mainstay: error [${error.code}]: ${error.message}\n`);
  } else {
    process.stderr.write(
      `mainstay: unexpected error: ${(error as Error).stack ?? String(error)}\n`,
    );
  }
  process.exitCode = 1;
}
