import { readdirSync, readFileSync } from 'node:fs';
import { type ProcessCpu, sampleProcessCpu } from './process-cpu.ts';

/**
 * The parent of every process, from /proc (field 4 of `stat`, after the command name, which is
 * in parentheses and may hold spaces).
 */
function parents(): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      byPid.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return byPid;
}

/** `root` and every process below it, at any depth. */
export function processTree(root = process.pid): Set<number> {
  const parentOf = parents();
  const tree = new Set<number>([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, parent] of parentOf) {
      if (!tree.has(pid) && tree.has(parent)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return tree;
}

/**
 * Every process's CPU time, as `sampleProcessCpu`, kept to this process and its descendants:
 * the PostgreSQL servers a benchmark's fleet started (and their backends, replicas' WAL replay,
 * apply workers...), and not the other fleets or test runs sharing the machine. Feed two samples
 * to `cpuByRole`. `null` where there is no /proc.
 */
export function sampleProcessTreeCpu(root = process.pid): ProcessCpu | null {
  const all = sampleProcessCpu();
  if (all === null) return null;
  const tree = processTree(root);
  return new Map([...all].filter(([pid]) => tree.has(pid)));
}

/** Linux's USER_HZ: /proc reports CPU time in these ticks on every common platform. */
const TICKS_PER_SECOND = 100;

/** CPU between two samples, in microseconds per op: in all, PostgreSQL's, this process's. */
export interface CpuSplit {
  readonly totalUsPerOp: number;
  readonly postgresUsPerOp: number;
  readonly thisProcessUsPerOp: number;
  /** Share of one core, in all, over `seconds`. */
  readonly coreShare: number;
}

/**
 * Splits the CPU spent between `before` and `after` into PostgreSQL processes (the postmasters,
 * titled by their binary's path, and their children, titled `postgres: ...`), this process, and
 * the rest (counted in the total only), per op.
 */
export function cpuSplit(
  before: ProcessCpu,
  after: ProcessCpu,
  seconds: number,
  ops: number,
): CpuSplit {
  let postgres = 0;
  let own = 0;
  let total = 0;
  for (const [pid, { title, ticks }] of after) {
    const spent = ticks - (before.get(pid)?.ticks ?? 0);
    total += spent;
    if (pid === process.pid) own += spent;
    else if (/(^|\/)postgres\b/.test(title)) postgres += spent;
  }
  const us = (ticks: number) => ((ticks / TICKS_PER_SECOND) * 1e6) / Math.max(1, ops);
  return {
    totalUsPerOp: us(total),
    postgresUsPerOp: us(postgres),
    thisProcessUsPerOp: us(own),
    coreShare: total / TICKS_PER_SECOND / seconds,
  };
}

/** The machine's CPU time so far, in ticks: in all and idle (from the `cpu` line of /proc/stat). */
export interface MachineCpu {
  readonly total: number;
  readonly idle: number;
}

/** Reads the machine's CPU time, or `null` where there is no /proc. */
export function sampleMachineCpu(): MachineCpu | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user and nice).
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
      ticks;
    return {
      total: user + nice + system + idle + iowait + irq + softirq + steal,
      idle: idle + iowait,
    };
  } catch {
    return null;
  }
}

/**
 * Cores the whole machine kept busy between two samples (every process, this benchmark's and
 * everyone else's), over `seconds`.
 */
export function machineCoresBusy(before: MachineCpu, after: MachineCpu, seconds: number): number {
  const busy = after.total - after.idle - (before.total - before.idle);
  return busy / TICKS_PER_SECOND / seconds;
}
