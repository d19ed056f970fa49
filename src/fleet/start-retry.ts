import { setTimeout as sleep } from 'node:timers/promises';
import { isConnectionLoss } from '../postgres/pg-errors.ts';

/** How long a start-up step is tried again while its servers' connections fail. */
const START_STEP_RETRY_MS = 30_000;
const START_STEP_PAUSE_MS = 500;

/**
 * Runs a start-up step (migrating the catalog or the shards, connecting the copies) again when
 * it failed on a lost or timed-out connection, for up to {@link START_STEP_RETRY_MS}: servers
 * that started a moment ago on a loaded machine may not answer within the fleet pools' connect
 * bound, which is short so that a hung server reads as down. Every such step is idempotent
 * (migrations by their ledger, the rest by checking before each change). Any other error, or
 * one past the bound, is thrown.
 */
export async function retryOnConnectionLoss<T>(
  step: () => Promise<T>,
  onRetry: (reason: string) => void,
): Promise<T> {
  const deadline = Date.now() + START_STEP_RETRY_MS;
  for (;;) {
    try {
      return await step();
    } catch (error) {
      if (!isConnectionLoss(error) || Date.now() >= deadline) throw error;
      onRetry(error instanceof Error ? error.message : String(error));
      await sleep(START_STEP_PAUSE_MS);
    }
  }
}
