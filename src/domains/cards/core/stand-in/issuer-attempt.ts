import { isMainstayError } from '../../../../errors/mainstay-error.ts';
import type { StandInTrigger } from './stand-in-stats.ts';

/** Thrown when the issuer attempt outlives `issuerTimeoutMs`. */
export class IssuerTimeout extends Error {}

/** Errors after which the request is decided in stand-in. */
const DIVERTING_CODES = new Set(['primary_unavailable', 'write_outcome_unknown', 'overloaded']);

/**
 * `attempt`, or the error `timeoutError` makes (an {@link IssuerTimeout} by default) after
 * `timeoutMs`. The attempt goes on: `onLate`, when given, gets its answer if it comes after all
 * (the processor pairs a late issuer answer with the advice it recorded).
 */
export async function withinTimeout<T>(
  attempt: Promise<T>,
  timeoutMs: number,
  options: { onLate?: (late: T) => void; timeoutError?: () => Error } = {},
): Promise<T> {
  const { onLate, timeoutError = () => new IssuerTimeout() } = options;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError()), timeoutMs);
  });
  try {
    return await Promise.race([attempt, timeout]);
  } catch (error) {
    if (onLate && error instanceof IssuerTimeout) attempt.then(onLate, () => undefined);
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
