/** Prints a fault run's report: its seed first, so that any run can be repeated. */
import { renderTable } from '../../../src/cli/status-table.ts';
import { OPERATIONS } from './client-ledger.ts';
import { faultLabel, formatCell } from './client-rto.ts';
import type { ChaosReport } from './run-chaos.ts';

/** The report as lines of text. */
export function formatReport(report: ChaosReport): string {
  const { options } = report;
  const lines: string[] = [];
  lines.push(
    `seed ${options.seed}  mode ${options.config.mode}  ${options.seconds} s of load  ` +
      `API processes: ${report.processes.join(', ')}`,
  );
  lines.push(
    `rerun: npm run chaos -- --seconds ${options.seconds} --seed ${options.seed}` +
      (options.config.mode === 'async' ? ' --async' : '') +
      (options.dcLoss ? ' --dc-loss' : ''),
    '',
    'faults:',
  );
  report.faults.forEach((fault, index) => {
    const at = fault.injectedAt === null ? '' : ` at ${new Date(fault.injectedAt).toISOString()}`;
    const pids = fault.pids.length > 0 ? `, pids ${fault.pids.slice(0, 8).join(' ')}` : '';
    const skipped = fault.skipped ? `: skipped, ${fault.skipped}` : '';
    lines.push(`  ${faultLabel(fault, index)}${at}${pids}${skipped}`);
  });
  lines.push('', 'checks:');
  lines.push(
    renderTable(
      ['check', 'result', 'figures'],
      report.checks.map((check) => [check.name, check.outcome.toUpperCase(), check.detail]),
    ),
  );
  for (const check of report.checks) {
    if (check.examples.length === 0 || check.outcome === 'pass') continue;
    lines.push(`  ${check.name}, for example:`);
    for (const example of check.examples) lines.push(`    ${example}`);
  }
  lines.push('', 'client-seen RTO (longest wait from first try to a definite answer):');
  lines.push(
    renderTable(
      ['fault', ...OPERATIONS],
      report.rto.map((row) => [row.fault, ...OPERATIONS.map((op) => formatCell(row.cells[op]))]),
    ),
  );
  lines.push('', 'tails the fleet reported:');
  lines.push(...(report.tails.length > 0 ? report.tails.map((t) => `  ${t}`) : ['  none']));
  lines.push('', 'load:');
  for (const [figure, value] of Object.entries(report.load)) lines.push(`  ${figure}: ${value}`);
  if (report.notes.length > 0) {
    lines.push('', 'notes:');
    for (const note of report.notes) lines.push(`  ${note}`);
  }
  return lines.join('\n');
}
