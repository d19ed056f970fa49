import { isEntityId } from '../../../../data/entity-id.ts';
import type { Router } from '../../../../data/router.ts';
import {
  type WriteAnswer,
  type WriteContext,
  withCallerToken,
} from '../../../../data/write-contract.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import { AuthorizationReader } from '../../store/authorization-reader.ts';
import type { AuthorizationOutcome } from './authorization-types.ts';
import { isValidAmount } from './request-validation.ts';

/** What a capture or reversal returns: the authorization after the change. */
export type HoldChangeResult = WriteAnswer<AuthorizationOutcome>;

/**
 * Applies hold moves through the authorization engine's shard lanes (the engine implements
 * it): a port defined here so the service does not depend on the engine.
 */
export interface HoldMover {
  moveHold(
    kind: 'capture' | 'reverse',
    authorizationId: string,
    amount: bigint | null,
    idempotencyKey: string,
  ): Promise<HoldChangeResult>;
}

/**
 * Stand-in decisions not yet on the issuer's books, as stand-in processing knows them. A port
 * defined on this side, so the service can answer for them without depending on stand-in; the
 * entry point passes the stand-in processor.
 */
export interface PendingStandInDecisions {
  /** The outcome stand-in gave under `authorizationId` while its advice waits to be forwarded. */
  pendingOutcome(authorizationId: string): AuthorizationOutcome | undefined;
  /**
   * The outcome stand-in gave under `authorizationId` in ANY process (its shared record),
   * `undefined` when there is none or it cannot be read.
   */
  sharedOutcome(authorizationId: string): Promise<AuthorizationOutcome | undefined>;
  /**
   * Puts a stand-in decision under `authorizationId`, taken by any process, on the issuer's
   * books now if it is not there yet, so a capture or reversal finds its hold. Throws when the
   * issuer cannot take it (the shard is away: retry).
   */
  settle(authorizationId: string): Promise<void>;
}

/** What an {@link AuthorizationService} is built with besides the router. */
export interface AuthorizationServiceOptions {
  /** Lets reads answer for stand-in decisions still waiting to be forwarded. */
  readonly standIn?: PendingStandInDecisions;
  /**
   * Sends captures and reversals through the engine's single writer per shard (pass the
   * {@link AuthorizationEngine}): on hot accounts a move then never holds the account's row
   * lock while the batches of authorizations queue behind it. Without it each move is its own
   * transaction (the direct path), which is correct but serializes with the batches.
   */
  readonly engine?: HoldMover;
}

/**
 * Reads of authorizations and the two moves on a hold: capture (posts part or all of what is
 * held) and reversal (releases part or all of it). Several partial captures and reversals may
 * follow each other until nothing is held; the hold closes when it reaches zero.
 *
 * Outcomes of these calls are errors, not statuses, because they are requests about an existing
 * resource rather than a network decision: an amount that is not 1 .. 2^53 - 1 or exceeds what
 * is still held is `invalid_amount`; a hold that is not open (a decline, a closed or expired
 * hold, a stand-in decision not yet forwarded) is `state_conflict`; an unknown id is
 * `resource_not_found`. Nothing is written then. Both are idempotent by a client key
 * (`onceInTransaction`, in the shard transaction).
 */
export class AuthorizationService {
  readonly #router: Router;
  readonly #reader: AuthorizationReader;
  readonly #standIn: PendingStandInDecisions | undefined;
  readonly #engine: HoldMover | undefined;

  constructor(router: Router, options: AuthorizationServiceOptions = {}) {
    this.#router = router;
    this.#reader = new AuthorizationReader(router);
    this.#standIn = options.standIn;
    this.#engine = options.engine;
  }

  /**
   * One authorization; pass the token of earlier writes to read them. What the caller sees for
   * a stand-in id (`decidedBy: "stand_in"` at decision time):
   * - advice waiting to be forwarded: the stand-in decision as the network got it, when the
   *   service was given the stand-in processor (`options.standIn`); else `resource_not_found`;
   * - advice applied: the authorization under the same id, with the issuer's view
   *   (`issuerStatus`, `exposureAmount`);
   * - advice reconciled as `duplicate_dropped` (the issuer had decided the same card and
   *   request id itself, e.g. an attempt that timed out for stand-in and committed): the
   *   ISSUER's authorization, with the issuer's outcome and its own id, not the one asked for;
   *   holds move on that id;
   * - advice quarantined (it could not be applied): `resource_not_found`, saying so.
   */
  async getAuthorization(id: string, token?: string | null): Promise<AuthorizationOutcome> {
    if (!isEntityId(id, 'auth')) throw notFound(id);
    // The spool before the issuer: an advice is acknowledged only after the issuer committed
    // it, so a forward racing this read is found on one side or the other.
    const pending = this.#standIn?.pendingOutcome(id);
    if (pending) return pending;
    const found = await this.#reader.resolve(id, token ?? null);
    if (found.state === 'found') return found.outcome;
    // Decided in stand-in by another process and not yet forwarded: its shared record.
    const shared = found.state === 'missing' ? await this.#standIn?.sharedOutcome(id) : undefined;
    if (shared) return shared;
    if (found.state === 'quarantined') {
      throw new MainstayError(
        'resource_not_found',
        `authorization ${id} was decided in stand-in, but its advice was quarantined ` +
          `(${found.advice.errorCode}) and is not on the issuer's books; see the stand-in advices`,
      );
    }
    throw notFound(id);
  }

  /** Posts `amount` of the hold (all that is held when `amount` is `null`). */
  capture(id: string, amount: bigint | null, context: WriteContext): Promise<HoldChangeResult> {
    return this.#change('capture', id, amount, context);
  }

  /** Releases `amount` of the hold (all that is held when `amount` is `null`). */
  reverse(id: string, amount: bigint | null, context: WriteContext): Promise<HoldChangeResult> {
    return this.#change('reverse', id, amount, context);
  }

  async #change(
    kind: 'capture' | 'reverse',
    id: string,
    amount: bigint | null,
    context: WriteContext,
  ): Promise<HoldChangeResult> {
    const answer = await this.#move(kind, id, amount, context.idempotencyKey);
    return withCallerToken(this.#router, answer, context.token);
  }

  async #move(
    kind: 'capture' | 'reverse',
    id: string,
    amount: bigint | null,
    idempotencyKey: string,
  ): Promise<HoldChangeResult> {
    if (!isEntityId(id, 'auth')) throw notFound(id);
    if (amount !== null && !isValidAmount(amount))
      throw new MainstayError('invalid_amount', 'amount must be 1 to 2^53 - 1 minor units');
    // A stand-in decision (of any process) goes on the issuer's books first: its id is the one
    // the client was given, and the hold must exist before it moves.
    await this.#standIn?.settle(id);
    if (!this.#engine) {
      throw new MainstayError(
        'service_unavailable',
        'this authorization service was built for reads: it has no engine to move holds',
      );
    }
    return this.#engine.moveHold(kind, id, amount, idempotencyKey);
  }
}

function notFound(id: string): MainstayError {
  return new MainstayError('resource_not_found', `no authorization ${id}`);
}
