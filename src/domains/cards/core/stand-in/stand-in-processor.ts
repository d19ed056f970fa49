import type { BypassSpool } from '../../../../data/bypass/bypass-spool.ts';
import type { Router } from '../../../../data/router.ts';
import { withCallerToken } from '../../../../data/write-contract.ts';
import { checkIntegerOption } from '../../../../errors/integer-options.ts';
import { isMainstayError, MainstayError } from '../../../../errors/mainstay-error.ts';
import type { StandInRegistry } from '../../store/stand-in-registry.ts';
import { authorizationIdOf } from '../authorization/authorization-id.ts';
import type { PendingStandInDecisions } from '../authorization/authorization-service.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../authorization/authorization-types.ts';
import {
  assertWellFormed,
  freshOutcome,
  rejectionOf,
  sameRequestFields,
  unwrittenOutcome,
} from '../authorization/request-validation.ts';
import { AdviceForwarder, type DrainResult } from './advice-forwarder.ts';
import { AdviceQueue, type ForwardPass, type KnownAdvice } from './advice-queue.ts';
import { AdviceSettlement } from './advice-settlement.ts';
import { type CachedCard, CardStatusCache, type CardStatusSource } from './card-status-cache.ts';
import { triggerOf, withinTimeout } from './issuer-attempt.ts';
import { IssuerCircuit, type IssuerRoute } from './issuer-circuit.ts';
import type { AuthorizationAnswer, IssuerPath } from './issuer-path.ts';
import { OverloadDiversion, type ShardDiversion } from './overload-diversion.ts';
import { SharedAnswers } from './shared-answers.ts';
import { adviceIdOf, type StandInAdvice } from './stand-in-advice.ts';
import { effectiveLimits } from './stand-in-limits.ts';
import { type StandInOptions, standInOptions } from './stand-in-options.ts';
import {
  type AdviceList,
  type AdviceListQuery,
  listAdvices,
  type ReconciliationReport,
  reconciliationReport,
} from './stand-in-report.ts';
import { type StandInDecision, StandInRules } from './stand-in-rules.ts';
import {
  StandInCounters,
  type StandInStatsSnapshot,
  type StandInTrigger,
} from './stand-in-stats.ts';

/** What the processor is built from; only the platform (or a test) wires concrete pieces. */
export interface StandInDependencies {
  readonly router: Router;
  readonly issuer: IssuerPath;
  readonly cards: CardStatusSource;
  /** The spool of advices; the processor owns it from now on (and closes it on `stop`). */
  readonly spool: BypassSpool;
  /**
   * Every process's stand-in answers and the shared exposure, on the witness (decisions 37,
   * 38); the caller opens and closes it.
   */
  readonly registry: StandInRegistry;
}

/**
 * Stand-in processing (STIP, the seed's 代授权): THE entry point for card authorizations. A
 * request goes to the issuer (the authorization engine on the card's shard primary) unless
 * that shard's circuit is open or the issuer path is overloaded (Double-11 capacity
 * diversion); if the issuer attempt fails or times out, the request is decided here, within
 * stand-in limits, from the card's cached state, recorded durably as an advice, and forwarded
 * to the issuer when it is back, where reconciliation flags any exposure.
 *
 * Every request gets a definite answer: the issuer's, or stand-in's. A retry gets the first
 * answer, whichever path gave it (stand-in advices are looked up before the issuer is asked).
 *
 * @example
 * const spool = await BypassSpool.open({ dir: '/var/lib/mainstay/stand-in', name: 'advices' });
 * const processor = StandInProcessor.start(
 *   { router, issuer: engineIssuerPath(router, engine), cards: replicaCardSource(router), spool },
 *   { issuerTimeoutMs: 500 },
 * );
 * const outcome = await processor.authorize(request); // decidedBy 'issuer' or 'stand_in'
 * await processor.stop();
 */
export class StandInProcessor implements PendingStandInDecisions {
  readonly options: StandInOptions;
  readonly cache: CardStatusCache;
  readonly rules: StandInRules;
  readonly circuit: IssuerCircuit;
  readonly queue: AdviceQueue;
  readonly #router: Router;
  readonly #issuer: IssuerPath;
  readonly #cards: CardStatusSource;
  readonly #forwarder: AdviceForwarder;
  readonly #counters = new StandInCounters();
  readonly #lateAnswers = new Map<string, AuthorizationOutcome>();
  readonly #lastIssuerAttemptMs = new Map<number, number>();
  readonly #diversion: OverloadDiversion;
  readonly #shared: SharedAnswers;
  readonly #settlement: AdviceSettlement;
  #stopped = false;

  private constructor(deps: StandInDependencies, options: StandInOptions) {
    checkIntegerOption('the issuer path holdTtlMs', deps.issuer.holdTtlMs, 1);
    this.options = options;
    this.#router = deps.router;
    this.#diversion = new OverloadDiversion(deps.issuer, options);
    this.#issuer = this.#diversion.watch(deps.issuer, (cardId) => deps.router.map.shardOf(cardId));
    this.#cards = deps.cards;
    this.#shared = new SharedAnswers(deps.registry, this.#issuer, {
      registryTimeoutMs: options.registryTimeoutMs,
      acknowledgedReadTimeoutMs: options.acknowledgedReadTimeoutMs,
    });
    this.cache = new CardStatusCache({ countMax: options.cardCacheCountMax });
    this.rules = new StandInRules(options.limits, { cardsTrackedMax: options.cardsTrackedMax });
    this.circuit = new IssuerCircuit({ probeIntervalMs: options.probeIntervalMs });
    this.queue = new AdviceQueue(deps.spool, { forwardedKeptMax: options.forwardedKeptMax });
    this.#settlement = new AdviceSettlement({
      registry: deps.registry,
      issuer: this.#issuer,
      queue: this.queue,
      circuit: this.circuit,
      counters: this.#counters,
      drain: (shardId) => this.#forwarder.drain(shardId),
    });
    this.#forwarder = new AdviceForwarder(
      this.queue,
      deps.issuer,
      {
        forwarded: (shardId, pass) => this.#onForwarded(shardId, pass),
        failed: (shardId, error) => {
          const message = error instanceof Error ? error.message : String(error);
          this.#counters.lastForwardError = { shardId, message, at: new Date().toISOString() };
        },
        quarantined: () => {
          this.#counters.quarantinedCount += 1;
        },
        // Advices add load: an overloaded shard gets them once its queue is back under the bar.
        holdBack: (shardId) => this.#issuer.queueDepth(shardId) >= options.queueDepthStandInMin,
      },
      options.forwarder,
    );
    // Approvals still waiting in the spool count against the window limits after a restart.
    for (const advice of this.queue.pending()) {
      if (advice.outcome.status !== 'approved') continue;
      this.rules.usage.reserve(advice.request.cardId, {
        adviceId: advice.adviceId,
        atMs: Date.parse(advice.outcome.createdAt),
        amount: advice.request.amount,
        category: advice.request.merchantCategory,
      });
    }
  }

  /** Awaited by the drain: `forwardNow` resolves with the batch's shared exposure released. */
  #onForwarded(shardId: number, pass: ForwardPass): Promise<void> {
    // The issuer committed the batch: the shard's primary is back, whatever the circuit thought.
    this.circuit.succeeded(shardId);
    const currency = new Map(
      pass.forwarded.map((f) => [f.advice.outcome.id, f.advice.outcome.currency]),
    );
    this.#counters.countForwarded(
      pass.forwarded.map((f) => f.result),
      (id) => currency.get(id) ?? 'XXX',
    );
    if (this.#counters.lastForwardError?.shardId === shardId)
      this.#counters.lastForwardError = null;
    return this.#settlement.markApplied(
      shardId,
      pass.forwarded.map((f) => f.advice),
    );
  }

  /** Builds the processor on an open spool and starts its forwarder loop. */
  static start(deps: StandInDependencies, options: Partial<StandInOptions> = {}): StandInProcessor {
    const processor = new StandInProcessor(deps, standInOptions(options));
    processor.#forwarder.start();
    processor.#settlement.start();
    return processor;
  }

  /** The figures of the processor's loops: forwarding and the orphan sweep. */
  jobSnapshots() {
    return [...this.#forwarder.jobs.snapshot(), ...this.#settlement.jobs.snapshot()];
  }

  /** Stops forwarding (waiting for a pass in flight) and closes the spool. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#settlement.stop();
    await this.#forwarder.stop();
    await this.queue.spool.close();
  }

  /**
   * Decides one authorization. Throws only for bad input (`invalid_request`,
   * `idempotency_key_reused`) and spool faults; every availability or capacity problem of the
   * issuer path becomes a stand-in decision.
   */
  async authorize(request: AuthorizationRequest): Promise<AuthorizationOutcome> {
    return (await this.authorizeWithToken(request)).value;
  }

  /**
   * Like {@link authorize}, with the consistency token (the caller's, `callerToken`, merged with
   * the issuer's commit; `null` when neither exists, as for a stand-in answer to a caller without
   * a token) and whether the answer replays an earlier one: what the HTTP layer puts in
   * `Mainstay-Consistency-Token` and `Idempotent-Replayed`.
   */
  async authorizeWithToken(
    request: AuthorizationRequest,
    callerToken: string | null = null,
  ): Promise<AuthorizationAnswer> {
    const answer = await this.#decide(request);
    if (!answer.replayed) this.#counters.countAnswer(answer.value.status);
    return withCallerToken(this.#router, answer, callerToken);
  }

  async #decide(request: AuthorizationRequest): Promise<AuthorizationAnswer> {
    if (this.#stopped) throw new MainstayError('service_unavailable', 'stand-in processor stopped');
    // The engine's own checks, first: stand-in must never record an advice the issuer would
    // refuse as malformed (it would block the shard's forwarding), and requests the engine
    // declines without a shard (bad amount, not a card id) need no issuer at all.
    assertWellFormed(request);
    const bucketCount = this.#router.map.snapshot.bucketCount;
    const rejection = rejectionOf(request, bucketCount);
    if (rejection !== null) {
      return {
        value: unwrittenOutcome(request, rejection, bucketCount),
        token: null,
        replayed: false,
      };
    }
    const known = this.queue.find(adviceIdOf(request));
    if (known) return this.#answerKnown(known, request);
    const shardId = this.#router.map.shardOf(request.cardId);
    const route = this.#routeOf(shardId, Date.now());
    if (route === 'circuit_open' || route === 'overload') {
      return this.#standIn(request, shardId, route);
    }
    // An answer stand-in gave in any process, not yet on the issuer's books, is the answer.
    // Looked up only while the shard may have one: no await on the common path.
    if (this.#shared.registry.mayHaveUnapplied(shardId)) {
      const shared = await this.#shared.beforeIssuer(request);
      if (shared) return this.#answerAdvice(shared, request);
    }
    this.#lastIssuerAttemptMs.set(shardId, Date.now());
    try {
      const answer = await this.#tryIssuer(request);
      if (route === 'probe' || this.circuit.state(shardId) !== 'closed') {
        this.circuit.succeeded(shardId);
        void this.#forwarder.drain(shardId);
      }
      this.cache.learn(answer.value, Date.now());
      this.#counters.issuerDecisions += 1;
      return answer;
    } catch (error) {
      const trigger = triggerOf(error);
      if (!trigger) {
        if (route === 'probe') this.circuit.released(shardId);
        throw error;
      }
      if (trigger !== 'overload') this.circuit.failed(shardId, Date.now());
      else if (route === 'probe') this.circuit.released(shardId);
      return this.#standIn(request, shardId, trigger);
    }
  }

  /** Forwards a shard's advices now (tests, operators); the loop does it on its own anyway. */
  forwardNow(shardId: number): Promise<DrainResult> {
    return this.#forwarder.drain(shardId);
  }

  /** Forwards every shard's advices now; resolves when each shard's drain ended. */
  async forwardAll(): Promise<DrainResult[]> {
    return Promise.all(this.#router.map.shardIds.map((shardId) => this.#forwarder.drain(shardId)));
  }

  /** The processor's figures: decisions by path, approvals, backlog, forwarding, exposure. */
  stats(): StandInStatsSnapshot {
    const c = this.#counters;
    const pendingAdvices: Record<number, number> = {};
    const circuits: Record<number, ReturnType<IssuerCircuit['state']>> = {};
    const diversions: Record<number, ShardDiversion> = {};
    const nowMs = Date.now();
    for (const shardId of this.#router.map.shardIds) {
      pendingAdvices[shardId] = this.queue.pendingCount(shardId);
      circuits[shardId] = this.circuit.state(shardId);
      diversions[shardId] = this.#diversion.snapshot(shardId, circuits[shardId], nowMs);
    }
    return c.snapshot({
      pendingAdvices,
      pendingAdvicesTotal: this.queue.pendingCount(),
      circuits,
      shared: this.#shared.stats(),
      diversions,
      cachedCards: this.cache.size,
    });
  }

  /** Pending and forwarded advices with their reconciliation, by authorization id (a cursor list). */
  advices(query: AdviceListQuery): Promise<AdviceList> {
    return listAdvices(this.queue, this.#issuer, this.#router.map.shardIds, query);
  }

  /** Every shard's reconciliation: counts per result, exposure per currency and in total. */
  reconciliationReport(): Promise<ReconciliationReport> {
    return reconciliationReport(this.queue, this.#issuer, this.#router.map.shardIds);
  }

  /**
   * The outcome stand-in gave under `authorizationId` while its advice waits in the spool (for
   * reads of authorizations: `PendingStandInDecisions`); `undefined` once forwarded.
   */
  pendingOutcome(authorizationId: string): AuthorizationOutcome | undefined {
    return this.queue.pendingByAuthorizationId(authorizationId)?.outcome;
  }

  /** The outcome stand-in gave under `authorizationId` in any process (its shared record). */
  async sharedOutcome(authorizationId: string): Promise<AuthorizationOutcome | undefined> {
    const found = await this.#shared.registry.findById(authorizationId).catch(() => undefined);
    return found?.advice.outcome;
  }

  /** Puts the stand-in decision under `authorizationId` on the issuer's books (see settlement). */
  settle(authorizationId: string): Promise<void> {
    return this.#settlement.settle(authorizationId);
  }

  /** The issuer's answer to a request whose attempt timed out here, if it came (for pairing). */
  lateIssuerAnswer(request: Pick<AuthorizationRequest, 'cardId' | 'requestId'>) {
    return this.#lateAnswers.get(adviceIdOf(request));
  }

  #routeOf(
    shardId: number,
    nowMs: number,
  ): Exclude<IssuerRoute, 'stand_in'> | 'circuit_open' | 'overload' {
    const route = this.circuit.route(shardId, nowMs);
    if (route === 'stand_in') return 'circuit_open';
    if (route === 'probe') return route;
    const last = this.#lastIssuerAttemptMs.get(shardId) ?? 0;
    return this.#diversion.route(shardId, nowMs, last) === 'issuer' ? 'issuer' : 'overload';
  }

  #tryIssuer(request: AuthorizationRequest): Promise<AuthorizationAnswer> {
    // A late commit makes the advice stand-in is about to record the duplicate reconciliation
    // drops: its answer is kept to pair them up.
    return withinTimeout(this.#issuer.authorize(request), this.options.issuerTimeoutMs, (late) =>
      this.#rememberLate(adviceIdOf(request), late.value),
    );
  }

  #rememberLate(adviceId: string, outcome: AuthorizationOutcome): void {
    this.#counters.lateIssuerAnswers += 1;
    this.cache.learn(outcome, Date.now());
    this.#lateAnswers.set(adviceId, outcome);
    while (this.#lateAnswers.size > this.options.lateAnswersKeptMax) {
      const oldest = this.#lateAnswers.keys().next();
      if (oldest.done) break;
      this.#lateAnswers.delete(oldest.value);
    }
  }

  async #standIn(
    request: AuthorizationRequest,
    shardId: number,
    trigger: StandInTrigger,
  ): Promise<AuthorizationAnswer> {
    const adviceId = adviceIdOf(request);
    const card = await this.cache.fresh(this.#cards, this.options, request.cardId);
    const again = this.queue.find(adviceId);
    if (again) return this.#answerKnown(again, request);
    const nowMs = Date.now();
    // The answer already given, by stand-in in any process or by the issuer, is the answer.
    let given: Awaited<ReturnType<SharedAnswers['beforeStandIn']>>;
    try {
      given = await this.#shared.beforeStandIn(request);
    } catch {
      return this.#countStandIn(trigger, this.#unavailable(request, card, 'witness', nowMs));
    }
    if (given.kind === 'shared') return this.#answerAdvice(given.advice, request);
    if (given.kind === 'issuer') return this.#answerIssued(given.outcome, request);
    if (given.kind === 'unverified') {
      // The issuer may have answered and no replica can say: deciding could give a second
      // answer, and losing an acknowledged approval is worse than a retry.
      return this.#countStandIn(trigger, this.#unavailable(request, card, 'unverified', nowMs));
    }
    const decision = this.rules.decide(request, card, adviceId, nowMs);
    const outcome = this.#outcomeOf(request, card, decision, nowMs);
    if (decision.status === 'issuer_unavailable' || decision.status === 'invalid_amount') {
      // Nothing was promised, so there is nothing to advise: a retry may reach the issuer.
      return this.#countStandIn(trigger, outcome);
    }
    const advice: StandInAdvice = { adviceId, shardId, request, outcome, reason: decision.reason };
    const approved = decision.status === 'approved';
    const release = () => {
      if (approved) this.rules.usage.release(request.cardId, adviceId);
    };
    let registered: Awaited<ReturnType<SharedAnswers['register']>>;
    try {
      registered = await this.#shared.register(
        advice,
        approved ? this.#cappedAdvice(advice, card, nowMs) : null,
        this.#exposureCaps(request),
      );
    } catch {
      release();
      return this.#countStandIn(trigger, this.#unavailable(request, card, 'witness', nowMs));
    }
    if (registered.replayed || registered.capped) release();
    if (registered.replayed) return this.#answerAdvice(registered.advice, request);
    // The witness holds the answer now; the spool is this process's forwarding queue. When the
    // spool cannot take it, the orphan sweep forwards it from the witness instead.
    await this.queue.record(registered.advice).catch((error: unknown) => {
      if (!isMainstayError(error, 'bypass_spool_full')) throw error;
    });
    return this.#countStandIn(trigger, registered.advice.outcome);
  }

  /** The advice of a capped approval: the same request, declined `stand_in_limit_exceeded`. */
  #cappedAdvice(advice: StandInAdvice, card: CachedCard | undefined, nowMs: number) {
    const decision = { status: 'stand_in_limit_exceeded', reason: 'shared exposure cap' } as const;
    return {
      ...advice,
      outcome: this.#outcomeOf(advice.request, card, decision, nowMs),
      reason: decision.reason,
    };
  }

  /** The shared caps for a request, in its currency (see `StandInLimits`). */
  #exposureCaps(request: AuthorizationRequest) {
    const limits = effectiveLimits(this.rules.limits, request.currency, request.merchantCategory);
    return { accountMax: limits.accountExposureMax, cardMax: limits.cardExposureMax };
  }

  /** `issuer_unavailable` (91): nothing decided, nothing recorded; a retry may be decided. */
  #unavailable(
    request: AuthorizationRequest,
    card: CachedCard | undefined,
    reason: string,
    nowMs: number,
  ): AuthorizationOutcome {
    return this.#outcomeOf(request, card, { status: 'issuer_unavailable', reason }, nowMs);
  }

  #countStandIn(trigger: StandInTrigger, outcome: AuthorizationOutcome): AuthorizationAnswer {
    this.#counters.standInDecisions += 1;
    this.#counters.standInByTrigger[trigger] += 1;
    if (outcome.status === 'approved') this.#counters.standInApprovals += 1;
    return { value: outcome, token: null, replayed: false };
  }

  #answerKnown(known: KnownAdvice, request: AuthorizationRequest): AuthorizationAnswer {
    return this.#answerAdvice(known.advice, request);
  }

  /** The issuer's acknowledged answer, read on a replica, given again to a retry. */
  #answerIssued(outcome: AuthorizationOutcome, request: AuthorizationRequest): AuthorizationAnswer {
    if (!sameRequestFields(outcome, request)) throw reusedId(request);
    this.cache.learn(outcome, Date.now());
    return { value: outcome, token: null, replayed: true };
  }

  #answerAdvice(advice: StandInAdvice, request: AuthorizationRequest): AuthorizationAnswer {
    const known = { advice };
    if (!sameRequestFields(known.advice.request, request)) {
      throw new MainstayError(
        'idempotency_key_reused',
        `request id "${request.requestId}" was already used for this card with other fields`,
      );
    }
    this.#counters.replayedAnswers += 1;
    return { value: known.advice.outcome, token: null, replayed: true };
  }

  #outcomeOf(
    request: AuthorizationRequest,
    card: CachedCard | undefined,
    decision: StandInDecision,
    nowMs: number,
  ): AuthorizationOutcome {
    return freshOutcome(request, {
      id: authorizationIdOf(
        request.cardId,
        request.requestId,
        this.#router.map.bucketOf(request.cardId),
      ),
      accountId: card?.accountId ?? null,
      status: decision.status,
      decidedBy: 'stand_in',
      holdExpiresAt: new Date(nowMs + this.#issuer.holdTtlMs).toISOString(),
      createdAt: new Date(nowMs).toISOString(),
    });
  }
}

function reusedId(request: AuthorizationRequest): MainstayError {
  return new MainstayError(
    'idempotency_key_reused',
    `request id "${request.requestId}" was already used for this card with other fields`,
  );
}
