import type {
  ExposureCaps,
  RegisteredDecision,
  StandInRegistry,
  StandInRegistrySnapshot,
} from '../../store/stand-in-registry.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../authorization/authorization-types.ts';
import type { IssuerPath } from './issuer-path.ts';
import type { StandInAdvice } from './stand-in-advice.ts';

/** Bounds of the look-ups that keep one answer per request across paths and processes. */
export interface SharedAnswerOptions {
  /** Bound on one registry look-up or decision on the witness. */
  readonly registryTimeoutMs: number;
  /** Bound on reading the issuer's acknowledged answer from a replica (catch-up included). */
  readonly acknowledgedReadTimeoutMs: number;
}

/** What the shared-answer checks did, for stats and metrics. */
export interface SharedAnswerStats {
  /** Requests answered with a stand-in answer another path or process gave first. */
  readonly sharedAnswersReplayed: number;
  /** Stand-in requests answered with the issuer's answer, read on a replica. */
  readonly issuerAnswersHonoured: number;
  /** Stand-in requests left undecided (91) because the issuer's answer could not be read. */
  readonly unverifiedDecisions: number;
  /** Stand-in approvals turned into declines by the shared exposure caps. */
  readonly cappedByExposure: number;
  /** Requests that could not be decided in stand-in because the witness did not answer. */
  readonly registryUnavailable: number;
  readonly registry: StandInRegistrySnapshot;
}

/** Thrown when a bounded look-up outlives its bound. */
class LookupTimeout extends Error {}

/**
 * The checks that give a request one answer whichever path takes it (decision 37), kept out of
 * the processor's decision flow: the registry of stand-in answers (every process's, on the
 * witness) and the issuer's acknowledged answer (read on a replica once it replayed what it
 * had received). Every look-up is bounded; what each returns when its source does not answer
 * is stated on the method.
 */
export class SharedAnswers {
  readonly #registry: StandInRegistry;
  readonly #issuer: IssuerPath;
  readonly #options: SharedAnswerOptions;
  sharedAnswersReplayed = 0;
  issuerAnswersHonoured = 0;
  unverifiedDecisions = 0;
  cappedByExposure = 0;
  registryUnavailable = 0;

  constructor(registry: StandInRegistry, issuer: IssuerPath, options: SharedAnswerOptions) {
    this.#registry = registry;
    this.#issuer = issuer;
    this.#options = options;
  }

  get registry(): StandInRegistry {
    return this.#registry;
  }

  /**
   * Before the issuer decides, while the shard may have stand-in answers not yet on the
   * issuer's books (`StandInRegistry.mayHaveUnapplied`): the one some process gave for this
   * request.
   * `undefined` when there is none, or when the witness does not answer in time (the issuer
   * then decides; reconciliation lists a conflict if a stand-in answer existed after all).
   */
  async beforeIssuer(request: AuthorizationRequest): Promise<StandInAdvice | undefined> {
    if (!this.#registry.snapshot.reachable && !this.#registry.snapshot.listening) return undefined;
    try {
      const found = await bounded(
        this.#registry.find(request.cardId, request.requestId),
        this.#options.registryTimeoutMs,
      );
      if (found) this.sharedAnswersReplayed += 1;
      return found;
    } catch {
      return undefined;
    }
  }

  /**
   * Before stand-in decides, the answer already given: a stand-in answer of any process
   * (`shared`), or the issuer's acknowledged one (`issuer`). `none` when neither exists, and
   * `unverified` when the issuer's could not be read in time (stand-in then promises nothing:
   * a decision could contradict an answer the issuer acknowledged). Throws when the witness
   * does not answer: then stand-in must not decide either.
   */
  async beforeStandIn(
    request: AuthorizationRequest,
  ): Promise<
    | { readonly kind: 'shared'; readonly advice: StandInAdvice }
    | { readonly kind: 'issuer'; readonly outcome: AuthorizationOutcome }
    | { readonly kind: 'none' | 'unverified' }
  > {
    const shared = await this.#witness(this.#registry.find(request.cardId, request.requestId));
    if (shared) {
      this.sharedAnswersReplayed += 1;
      return { kind: 'shared', advice: shared };
    }
    const timeoutMs = this.#options.acknowledgedReadTimeoutMs;
    try {
      const issued = await bounded(
        this.#issuer.findAcknowledged(request.cardId, request.requestId, timeoutMs),
        timeoutMs,
      );
      if (!issued) return { kind: 'none' };
      this.issuerAnswersHonoured += 1;
      return { kind: 'issuer', outcome: issued };
    } catch {
      this.unverifiedDecisions += 1;
      return { kind: 'unverified' };
    }
  }

  /** Records the decision on the witness (see `StandInRegistry.decide`); throws when it cannot. */
  async register(
    proposed: StandInAdvice,
    capped: StandInAdvice | null,
    caps: ExposureCaps,
  ): Promise<RegisteredDecision> {
    const registered = await this.#witness(this.#registry.decide(proposed, capped, caps));
    if (registered.capped) this.cappedByExposure += 1;
    if (registered.replayed) this.sharedAnswersReplayed += 1;
    return registered;
  }

  /** The figures so far. */
  stats(): SharedAnswerStats {
    return {
      sharedAnswersReplayed: this.sharedAnswersReplayed,
      issuerAnswersHonoured: this.issuerAnswersHonoured,
      unverifiedDecisions: this.unverifiedDecisions,
      cappedByExposure: this.cappedByExposure,
      registryUnavailable: this.registryUnavailable,
      registry: this.#registry.snapshot,
    };
  }

  async #witness<T>(work: Promise<T>): Promise<T> {
    try {
      return await bounded(work, this.#options.registryTimeoutMs);
    } catch (error) {
      this.registryUnavailable += 1;
      throw error;
    }
  }
}

/** `work`, or a `LookupTimeout` after `timeoutMs` (the work goes on; its result is dropped). */
async function bounded<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new LookupTimeout()), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
