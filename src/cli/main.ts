import { Command } from 'commander';
import { isMainstayError } from '../errors/mainstay-error.ts';
import { VERSION } from '../platform/platform.ts';
import { admitCommand } from './commands/admit.ts';
import { apiCommand } from './commands/api.ts';
import { auditVerifyCommand } from './commands/audit.ts';
import { destroyCommand } from './commands/destroy.ts';
import { downCommand } from './commands/down.ts';
import { envCreateCommand, envDestroyCommand, envListCommand } from './commands/env.ts';
import { envServeCommand } from './commands/env-serve.ts';
import { openApiCommand } from './commands/openapi.ts';
import {
  compareCommand,
  opsDecideCommand,
  opsListCommand,
  opsRunCommand,
  opsShowCommand,
} from './commands/ops.ts';
import { reseedCommand } from './commands/reseed.ts';
import { statusCommand } from './commands/status.ts';
import { upCommand } from './commands/up.ts';

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

program
  .command('up')
  .description(
    'provision (first run) or restart the fleet, load demo data, serve HTTP; Ctrl-C stops',
  )
  .action(run(upCommand));
program
  .command('api')
  .description(
    'start one more API process on the running fleet (same MAINSTAY_HOME), on its own port; Ctrl-C stops',
  )
  .option('--port <port>', 'HTTP port (default: MAINSTAY_PORT, else the config)')
  .action(run(apiCommand));
program
  .command('down')
  .description('stop a running Mainstay and its PostgreSQL servers')
  .action(run(downCommand));
program
  .command('status')
  .description('show servers, roles, WAL positions, lag and shards')
  .option('--json', 'print JSON for machines')
  .action(run(statusCommand));
program
  .command('destroy')
  .description("delete MAINSTAY_HOME with every server's data")
  .option('--yes', 'do not ask for confirmation')
  .action(run(destroyCommand));
program
  .command('reseed')
  .description("re-seed a returning data centre's shard copies (after a data-centre loss)")
  .argument('<dataCentre>', 'the returning data centre, e.g. dc1')
  .option('--json', 'print JSON for machines')
  .action(run(reseedCommand));
program
  .command('audit')
  .description('the audit trail')
  .command('verify')
  .description("check every shard's audit hash chain; exit 1 when one is broken")
  .option('--shard <shardId>', 'only this shard')
  .option('--json', 'print JSON for machines')
  .action(run(auditVerifyCommand));
const ops = program.command('ops').description('ops workflows: start, follow, list, approve');
ops
  .command('run')
  .description('start a workflow (or, with --module, one module) and follow it live')
  .argument('<name>', 'a workflow (GET /v1/ops/workflows) or a module (GET /v1/ops/modules)')
  .option('--input <json>', 'the input, a JSON object', '{}')
  .option('--module', 'run one module alone')
  .option('--json', 'print JSON for machines')
  .action(run(opsRunCommand));
ops
  .command('list')
  .description('runs, newest first')
  .option('--status <status>', 'only runs in this status')
  .option('--json', 'print JSON for machines')
  .action(run(opsListCommand));
ops
  .command('show')
  .description('one run and its steps')
  .argument('<runId>')
  .option('--watch', 'follow its events live until it ends or waits for a decision')
  .option('--json', 'print JSON for machines')
  .action(run(opsShowCommand));
for (const verb of ['approve', 'reject'] as const) {
  ops
    .command(verb)
    .description(`${verb} the step a run waits on, as the staff session in MAINSTAY_SESSION`)
    .argument('<runId>')
    .option('--reason <text>', 'why')
    .action(
      run((runId: string, options: { reason?: string }) => opsDecideCommand(verb, runId, options)),
    );
}
program
  .command('compare')
  .description("compare a shard's table with the other DC's copy (or its replica), live")
  .argument('<shard>', 'the shard id')
  .argument('<table>', 'the table, e.g. demo_customers')
  .option('--against <side>', 'copy or replica', 'copy')
  .option('--json', 'print JSON for machines')
  .action(run(compareCommand));
const env = program
  .command('env')
  .description('isolated environments under MAINSTAY_HOME, each its own fleet and API');
env
  .command('create')
  .description('create an environment and start it in the background; ready when it returns')
  .argument('<name>', 'lower-case letters, digits and hyphens, e.g. alice-test')
  .option('--demo', 'load the demo data set (customers, card accounts)')
  .option('--json', 'print JSON for machines')
  .action(run(envCreateCommand));
env
  .command('list')
  .description('list the environments, with their state and URL')
  .option('--json', 'print JSON for machines')
  .action(run(envListCommand));
env
  .command('destroy')
  .description("stop an environment's API and servers and delete its home")
  .argument('<name>', 'the environment')
  .action(run(envDestroyCommand));
env
  .command('serve', { hidden: true })
  .description("an environment's supervisor, started by env create: up once its copy is made")
  .action(run(envServeCommand));
program
  .command('admit')
  .description(
    'ask the admission gate for a decision on a change request (a JSON file, or - for stdin)',
  )
  .argument('<file>', 'the change request as JSON, or - to read it from stdin')
  .option('--json', 'print JSON for machines')
  .option('--idempotency-key <key>', 'retry an earlier run: answers its decision')
  .action(run(admitCommand));
program.command('openapi').description('print the OpenAPI document').action(run(openApiCommand));

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
