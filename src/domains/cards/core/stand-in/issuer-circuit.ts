import { checkIntegerOption } from '../../../../errors/integer-options.ts';
/** The states of one shard's issuer circuit. */
export const CIRCUIT_STATES = ['closed', 'open', 'half_open'] as const;
export type CircuitState = (typeof CIRCUIT_STATES)[number];

/** Where one request goes: the issuer, the issuer as the half-open probe, or stand-in. */
export type IssuerRoute = 'issuer' | 'probe' | 'stand_in';

/** How long an open circuit waits before it lets one probe through, by default. */
export const PROBE_INTERVAL_MS_DEFAULT = 1_000;

interface ShardCircuit {
  state: CircuitState;
  openedAtMs: number;
  probing: boolean;
  opens: number;
}

/**
 * A circuit breaker per shard in front of the issuer path. One failure (the primary is
 * unavailable, the outcome unknown, the issuer too slow) opens it: waiting for a dead primary
 * on every request would make every cardholder wait `issuerTimeoutMs`. After
 * `probeIntervalMs` it lets exactly one request through as a probe (half-open) while the rest
 * stay in stand-in; the probe's success closes it, so the shard is back on the issuer within
 * one interval of recovering; its failure opens it again for another interval.
 */
export class IssuerCircuit {
  readonly #shards = new Map<number, ShardCircuit>();
  readonly #probeIntervalMs: number;

  constructor(options: { probeIntervalMs?: number } = {}) {
    this.#probeIntervalMs = options.probeIntervalMs ?? PROBE_INTERVAL_MS_DEFAULT;
    checkIntegerOption('probeIntervalMs', this.#probeIntervalMs, 0);
  }

  /** Where the next request of `shardId` goes; a `probe` must be answered by `succeeded`/`failed`. */
  route(shardId: number, nowMs: number): IssuerRoute {
    const shard = this.#shards.get(shardId);
    if (!shard || shard.state === 'closed') return 'issuer';
    if (shard.probing) return 'stand_in';
    if (nowMs - shard.openedAtMs < this.#probeIntervalMs) return 'stand_in';
    shard.state = 'half_open';
    shard.probing = true;
    return 'probe';
  }

  /** The issuer answered: the circuit closes. */
  succeeded(shardId: number): void {
    const shard = this.#shards.get(shardId);
    if (!shard) return;
    shard.state = 'closed';
    shard.probing = false;
  }

  /** The issuer failed (or a probe did): the circuit opens for another interval. */
  failed(shardId: number, nowMs: number): void {
    const shard = this.#shards.get(shardId) ?? {
      state: 'closed',
      openedAtMs: nowMs,
      probing: false,
      opens: 0,
    };
    if (shard.state === 'closed') shard.opens += 1;
    shard.state = 'open';
    shard.openedAtMs = nowMs;
    shard.probing = false;
    this.#shards.set(shardId, shard);
  }

  /** A probe that ended neither way (the request was invalid): let another probe through. */
  released(shardId: number): void {
    const shard = this.#shards.get(shardId);
    if (shard?.state === 'half_open') {
      shard.state = 'open';
      shard.probing = false;
    }
  }

  state(shardId: number): CircuitState {
    return this.#shards.get(shardId)?.state ?? 'closed';
  }

  /** How many times the shard's circuit went from closed to open. */
  opens(shardId: number): number {
    return this.#shards.get(shardId)?.opens ?? 0;
  }
}
