import { MainstayError } from '../../../errors/mainstay-error.ts';

/**
 * The cursor of the run list (`GET /v1/ops/runs`, the `ops-runs` topic): the last run's creation
 * time and id, opaque to clients.
 */
export function cursorOf(run: { createdAt: string; id: string }): string {
  return Buffer.from(`${run.createdAt}|${run.id}`).toString('base64url');
}

/** The run a cursor names; `invalid_request` for anything else. */
export function parseCursor(cursor: string): { createdAt: string; id: string } {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt))) {
    throw new MainstayError('invalid_request', 'startingAfter is not a cursor this list gave', {
      errors: [{ pointer: '/startingAfter', detail: 'not a cursor of this list' }],
    });
  }
  return { createdAt, id };
}
