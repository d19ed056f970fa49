import { Command } from 'commander';
import { isMainstayError } from '../errors/mainstay-error.ts';
import { VERSION } from '../platform/platform.ts';
import { admitCommand } from './commands/admit.ts';
import { apiCommand } from './commands/api.ts';
import { auditVerifyCommand } from './commands/audit.ts';
import { destroyCommand } from './commands/destroy.ts';
import { downCommand } from './commands/down.ts';
import { openApiCommand } from './commands/openapi.ts';
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
