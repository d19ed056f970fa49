import { hash } from 'node:crypto';
import { formatEntityId } from '../../../../data/entity-id.ts';

/**
 * The one id of the authorization a card's request names, whichever path decides it: the
 * issuer's engine, stand-in in any API process, a replay, reconciliation. It is derived from
 * the card and the request id (SHA-256 of `cardId`, NUL, `requestId`), so two processes, or a
 * stand-in decision and a late issuer commit, can never mint two ids for one request, and a
 * client holding the id can read and capture it whichever path answered (decision 37).
 *
 * The id keeps the entity-id layout and carries the card's bucket, so it routes to the card's
 * shard; its 26 body characters are all hash, so unlike other ids it does not sort by creation
 * time (lists of authorizations order by `createdAt`). The hash is not keyed: an id is not a
 * secret and reveals nothing a holder of the card id and request id did not already know.
 *
 * @example
 * authorizationIdOf('card_01J…0042', 'pos-7781', 66) === authorizationIdOf('card_01J…0042', 'pos-7781', 66)
 */
export function authorizationIdOf(cardId: string, requestId: string, bucket: number): string {
  const digest = hash('sha256', `${cardId}\u0000${requestId}`, 'buffer');
  // The id's 50-bit time field from 48 + 2 bits of the digest (exact in a double: < 2^53).
  const timeField = digest.readUIntBE(0, 6) * 4 + ((digest[6] as number) & 3);
  return formatEntityId('auth', bucket, timeField, digest.subarray(7, 17));
}
