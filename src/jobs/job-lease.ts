/**
 * The right to run one job in one process at a time, across every process that schedules it
 * (pruning that would otherwise run on every API process at once). The runner asks before each
 * run and gives the lease back when it stops, so another process takes over at its next tick.
 *
 * An implementation holds a lease until it releases it or loses its hold (its process or its
 * connection dies); {@link JobLease.tryAcquire} answers for the holder too, so a holder that lost
 * its hold learns it before its next run, not after.
 */
export interface JobLease {
  /**
   * Takes the lease for `job`, or confirms this holder still has it. `false`: another holder has
   * it now. Throws when it cannot tell (its database unreachable); the runner then skips the run.
   */
  tryAcquire(job: string): Promise<boolean>;
  /** Gives the lease for `job` back, if held; the next holder need not wait for it to expire. */
  release(job: string): Promise<void>;
}
