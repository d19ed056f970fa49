import type { TokenText } from '../../../data/write-contract.ts';
import type {
  BatchContext,
  OpenBatch,
  QueuedItem,
  ShardBatchClient,
} from '../../../engine/batch-client.ts';
import { applyLedgerBatch } from '../store/ledger-batch.ts';
import type { LedgerOutcome, LedgerRequest } from './ledger-types.ts';

/**
 * One linked chain of a call (requests with `linked` up to the first without), or one unlinked
 * request: the unit the engine never splits, neither by its batch size bound nor by isolation.
 */
export interface LedgerChain {
  /** The key of the call's shard (see `LedgerEngine.submit`). */
  readonly shardKey: string;
  readonly requests: readonly LedgerRequest[];
}

/** What a chain is answered with: one outcome per request, and its batch's commit token. */
export interface ChainAnswer {
  readonly outcomes: readonly LedgerOutcome[];
  readonly token: TokenText;
}

/** A chain waiting in its shard's lane. */
export type LedgerEntry = QueuedItem<LedgerChain, ChainAnswer>;

/** A call's requests cut into chains, in order. */
export function chainsOf(shardKey: string, requests: readonly LedgerRequest[]): LedgerChain[] {
  const chains: LedgerChain[] = [];
  let start = 0;
  requests.forEach((request, index) => {
    if (request.linked === true) return;
    chains.push({ shardKey, requests: requests.slice(start, index + 1) });
    start = index + 1;
  });
  return chains;
}

/** The accounts a part names (its transfers'), recorded as written beside the shard key. */
function* accountsOf(requests: readonly LedgerRequest[]): Iterable<string> {
  for (const request of requests) {
    if (request.kind !== 'transfer' && request.kind !== 'pending') continue;
    yield request.debitAccountId;
    yield request.creditAccountId;
  }
}

/**
 * Applies `part` (whole chains, in order) in one transaction: one call of `ledger_apply_batch`,
 * then each chain answered with its slice of the outcomes. Throws, answering nothing, when the
 * transaction failed.
 */
async function applyPart(
  context: BatchContext<LedgerChain, ChainAnswer>,
  part: readonly LedgerEntry[],
): Promise<void> {
  const first = part[0];
  if (first === undefined) return;
  const requests = part.flatMap((entry) => entry.item.requests);
  const { value: outcomes, token } = await context.router.write(
    first.item.shardKey,
    (tx) => applyLedgerBatch(tx, requests),
    { waitMs: context.settings.writeWaitMs, touched: () => accountsOf(requests) },
  );
  let at = 0;
  for (const entry of part) {
    const count = entry.item.requests.length;
    entry.resolve({ outcomes: outcomes.slice(at, at + count), token });
    at += count;
  }
}

/**
 * The ledger as a client of the batching engine (`src/engine/`, decision 49): a batch is its
 * chains' requests in one call of `ledger_apply_batch`, in one transaction; a chain is a unit
 * of the batch, weighing its length, so the size bound and isolation never cut it.
 */
export class LedgerBatchClient implements ShardBatchClient<LedgerChain, ChainAnswer, LedgerEntry> {
  shardKeyOf(chain: LedgerChain): string {
    return chain.shardKey;
  }

  open(
    batch: readonly LedgerEntry[],
    context: BatchContext<LedgerChain, ChainAnswer>,
  ): OpenBatch<LedgerEntry> {
    let requestCount = 0;
    for (const entry of batch) requestCount += entry.weight;
    return {
      units: batch,
      requestCount,
      apply: (part) => applyPart(context, part),
      fail: (entry, error) => entry.reject(error),
    };
  }
}
