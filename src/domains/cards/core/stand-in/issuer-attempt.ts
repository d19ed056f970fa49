import { isMainstayError } from '../../../../errors/mainstay-error.ts';
import type { StandInTrigger } from './stand-in-stats.ts';

/** Thrown when the issuer attempt outlives `issuerTimeoutMs`. */
export class IssuerTimeout extends Error {}

/** Errors after which the request is decided in stand-in. */
const DIVERTING_CODES = new Set(['primary_unavailable', 'write_outcome_unknown', 'overloaded']);

/**
 * `attempt`, or an {@link IssuerTimeout} after `timeoutMs`. A timed-out attempt goes on and may
 * commit: `onLate` gets its answer then (the processor pairs it with the advice it recorded).
 */
export async function withinTimeout<T>(
  attempt: Promise<T>,
  timeoutMs: number,
  onLate: (late: T) => void,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new IssuerTimeout()), timeoutMs);
  });
  try {
    return await Promise.race([attempt, timeout]);
  } catch (error) {
    if (error instanceof IssuerTimeout) attempt.then(onLate, () => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Why a failed issuer attempt sends the request to stand-in; `null`: it does not. */
export function triggerOf(error: unknown): StandInTrigger | null {
  if (error instanceof IssuerTimeout) return 'issuer_timeout';
  if (!isMainstayError(error) || !DIVERTING_CODES.has(error.code)) return null;
  return error.code === 'overloaded' ? 'overload' : 'issuer_failed';
}
