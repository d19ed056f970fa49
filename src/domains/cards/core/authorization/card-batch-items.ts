import type { WriteAnswer } from '../../../../data/write-contract.ts';
import type { QueuedItem } from '../../../../engine/batch-client.ts';
import type { AuthorizationOutcome, AuthorizationRequest } from './authorization-types.ts';
import type { MoveItem } from './authorize-batch.ts';

/**
 * What the engine answers one request or hold move with: the outcome and, when written, the
 * batch commit's token (`null` for a decline that wrote nothing).
 */
export type EngineAnswer = WriteAnswer<AuthorizationOutcome>;

/** One authorization request as it waits in a shard's lane. */
export interface AuthorizeWork {
  readonly kind: 'authorize';
  readonly request: AuthorizationRequest;
  /** The id the authorization gets if it is new (minted in the card's bucket). */
  readonly id: string;
  /** Set when the request went round once more (its batch could not place it). */
  requeued: boolean;
}

/** One capture or reversal of a hold as it waits in a shard's lane. */
export interface MoveWork {
  readonly kind: 'move';
  readonly move: MoveItem;
}

/** Anything the card engine's single writer per shard applies. */
export type CardWork = AuthorizeWork | MoveWork;

/** A queued item of the card engine. */
export type CardEntry = QueuedItem<CardWork, EngineAnswer>;
/** A queued authorization request. */
export type PendingRequest = QueuedItem<AuthorizeWork, EngineAnswer>;
/** A queued hold move. */
export type PendingMove = QueuedItem<MoveWork, EngineAnswer>;

/** Whether `entry` is an authorization request (not a hold move). */
export function isPendingRequest(entry: CardEntry): entry is PendingRequest {
  return entry.item.kind === 'authorize';
}

/** Whether `entry` is a hold move. */
export function isPendingMove(entry: CardEntry): entry is PendingMove {
  return entry.item.kind === 'move';
}
