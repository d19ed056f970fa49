/**
 * Signals to a PostgreSQL server from outside its supervisor, as an operator's `kill` would.
 * Each PostgreSQL child makes itself a process-group leader, so a whole server is its
 * postmaster plus every process whose parent it is, found in /proc.
 */
import { childPids } from '../../../src/fleet/postgres-server.ts';

/** Sends `signal` to `pid`; false when it is already gone. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends `signal` to a postmaster and all its children (children first, while they can still
 * be told apart by their parent). Returns the pids signalled, to send SIGCONT to them later.
 */
export function signalTree(postmaster: number, signal: NodeJS.Signals): number[] {
  const pids = [...childPids(postmaster), postmaster];
  return pids.filter((pid) => signalPid(pid, signal));
}
