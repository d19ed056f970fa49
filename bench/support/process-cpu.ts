import { readdirSync, readFileSync } from 'node:fs';

/** CPU time (user + system, in clock ticks) and title of every process, read from /proc. */
export type ProcessCpu = ReadonlyMap<number, { readonly title: string; readonly ticks: number }>;

/** Linux's USER_HZ: /proc reports CPU time in these ticks on every common platform. */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system, clock ticks) from a `/proc/<pid>/stat` line. */
function ticksOf(stat: string): number {
  // Fields after the command name (which may hold spaces) start after its closing paren.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The CPU time process `pid` has used so far, in ms; `NaN` where it cannot be read. */
export function processCpuMs(pid: number): number {
  try {
    return (ticksOf(readFileSync(`/proc/${pid}/stat`, 'utf8')) * 1_000) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** Reads every process's CPU time, or `null` where there is no /proc (not Linux). */
export function sampleProcessCpu(): ProcessCpu | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  const sample = new Map<number, { title: string; ticks: number }>();
  for (const pid of pids) {
    try {
      const ticks = ticksOf(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      sample.set(Number(pid), { title, ticks });
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return sample;
}

/** What a process does in the fleet, from its title (PostgreSQL sets `postgres: <server>: ...`). */
function roleOf(title: string, pid: number): string {
  if (pid === process.pid) return 'this process';
  if (!title.startsWith('postgres:')) return title.includes('node') ? 'other Node processes' : '';
  if (title.includes('logical replication apply worker')) return 'copies: logical apply';
  if (title.includes('walsender') && title.includes('START_REPLICATION')) {
    return 'copies: walsender (logical decoding)';
  }
  if (title.includes('walsender')) return 'replicas: walsender';
  if (title.includes('startup recovering')) return 'replicas: WAL replay';
  if (title.includes('walreceiver')) return 'replicas: walreceiver';
  if (/ shard_\d+ /.test(title)) return 'primaries: shard connections';
  return 'other PostgreSQL work';
}

/**
 * CPU spent between two samples by role (percent of one core, and microseconds per `ops`),
 * largest first; roles under 1% of a core are folded into "rest".
 */
export function cpuByRole(
  before: ProcessCpu,
  after: ProcessCpu,
  seconds: number,
  ops: number,
): { role: string; coreShare: number; usPerOp: number }[] {
  const ticksByRole = new Map<string, number>();
  for (const [pid, { title, ticks }] of after) {
    const role = roleOf(title, pid);
    if (!role) continue;
    const spent = ticks - (before.get(pid)?.ticks ?? 0);
    ticksByRole.set(role, (ticksByRole.get(role) ?? 0) + spent);
  }
  const rows = [...ticksByRole].map(([role, ticks]) => {
    const cpuSeconds = ticks / TICKS_PER_SECOND;
    return { role, coreShare: cpuSeconds / seconds, usPerOp: (cpuSeconds * 1e6) / ops };
  });
  const kept = rows.filter((row) => row.coreShare >= 0.01).sort((a, b) => b.usPerOp - a.usPerOp);
  const rest = rows.filter((row) => row.coreShare < 0.01);
  if (rest.length > 0) {
    kept.push({
      role: 'rest',
      coreShare: rest.reduce((sum, row) => sum + row.coreShare, 0),
      usPerOp: rest.reduce((sum, row) => sum + row.usPerOp, 0),
    });
  }
  return kept;
}
