/**
 * Telling "the server said no" from "we lost the server". A PostgreSQL error carries a SQLSTATE
 * (`code`, five characters); a lost connection is a Node socket error or pg's own message.
 * Class 08 (connection exception) and 57P (operator intervention: shutdown, crash) count as lost.
 */
export function isConnectionLoss(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('08') || code.startsWith('57P')) return true;
    if (
      ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTCONN'].includes(
        code,
      )
    )
      return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return false;
  }
  const message = error instanceof Error ? error.message : String(error);
  return /Connection terminated|connection timeout|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
    message,
  );
}

/**
 * The SQLSTATE a shard raises for a write to a row whose bucket has moved to another shard (the
 * fence a bucket move leaves on its source, decision 58). Class `MS` is Mainstay's own; the
 * transaction is rolled back, so nothing was written and the write can go to the new shard.
 */
export const BUCKET_MOVED_SQLSTATE = 'MSB01';

/** Whether `error` is a shard's refusal of a write to a bucket that has moved away. */
export function isBucketMoved(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === BUCKET_MOVED_SQLSTATE;
}
