/**
 * One write of the page at a time per panel: its busy state, the problem it met (shown as the
 * problem's title and detail), and an idempotency key kept for a retry of the same request and
 * renewed when the request changes or succeeds.
 */
import { useCallback, useRef, useState } from 'react';
import { api, idempotencyKey } from '../../app/api.ts';

export interface Action {
  readonly busy: boolean;
  readonly problem: unknown;
  /** Sends `method path body`; answers the result, or `undefined` when it met a problem. */
  send<T>(method: string, path: string, body: unknown): Promise<T | undefined>;
  clear(): void;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<unknown>(null);
  const last = useRef<{ request: string; key: string } | null>(null);
  const send = useCallback(async <T>(method: string, path: string, body: unknown) => {
    const request = JSON.stringify([method, path, body]);
    if (last.current?.request !== request) last.current = { request, key: idempotencyKey() };
    setBusy(true);
    setProblem(null);
    try {
      const answer = await api<T>(method, path, { body, idempotencyKey: last.current.key });
      last.current = null;
      return answer;
    } catch (error) {
      setProblem(error);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  const clear = useCallback(() => setProblem(null), []);
  return { busy, problem, send, clear };
}
