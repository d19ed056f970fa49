/**
 * The ledger's live topic (`GET /v1/stream?topics=ledger`, decision 61): the first page of
 * settlement windows, as `GET /v1/ledger/settlement-windows` lists them, so that a window's
 * state, closed and settled shards move on a screen by themselves after a close or a settle.
 */
import type { StreamTopic } from '../../../../platform/stream-topic.ts';
import type { SettlementService } from '../core/settlement-service.ts';
import { windowToJson } from './settlement-schemas.ts';

/** Windows the topic carries: the list's first page of the largest size. */
export const STREAMED_WINDOWS_MAX = 100;

/** The topic `ledger`: `{ windows, hasMore, nextCursor }` (the cursor of the windows after these), read every 2 s while anyone subscribes. */
export function ledgerStreamTopic(settlement: SettlementService): StreamTopic {
  return {
    scope: 'ledger:read',
    intervalMs: 2_000,
    async read() {
      const page = await settlement.list({}, { limit: STREAMED_WINDOWS_MAX });
      return {
        windows: page.data.map(windowToJson),
        hasMore: page.hasMore,
        nextCursor: page.nextCursor,
      };
    },
  };
}
