/** The failover controller's bounds (failover-controller.ts); every one has a default. */
export interface FailoverOptions {
  /** How often each primary and replica is probed. */
  readonly probeIntervalMs?: number;
  /** Connect and query bound of one probe: a server slower than this failed the probe. */
  readonly probeTimeoutMs?: number;
  /** Bound on one probe round (a catalog re-read and every server's probe). */
  readonly probeRoundTimeoutMs?: number;
  /** Consecutive failed probes after which a live-but-silent server counts as hung. */
  readonly failureCountMax?: number;
  /**
   * How long the other server of a DC is probed again, every `probeIntervalMs`, before its
   * silence makes the DC lost: a slow answer on a loaded machine is not a lost DC.
   */
  readonly dcLossConfirmMs?: number;
  /** Gap by which a new home's sequences jump ahead after a DC failover. */
  readonly sequenceGap?: number;
  /** Wait before the steps after a promotion are tried again, when one of them failed. */
  readonly completionRetryMs?: number;
  /** Attempts at the steps after a promotion before the failover is left to an operator. */
  readonly completionAttemptMax?: number;
}

/** The defaults: a dead server is acted on at once, a silent one after about a second. */
export const FAILOVER_DEFAULTS = {
  probeIntervalMs: 200,
  probeTimeoutMs: 400,
  probeRoundTimeoutMs: 5_000,
  failureCountMax: 3,
  dcLossConfirmMs: 2_000,
  sequenceGap: 1_000_000,
  completionRetryMs: 2_000,
  completionAttemptMax: 30,
};
