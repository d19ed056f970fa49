/**
 * Progress of a long step (a table compared chunk by chunk, a bucket's rows copied), as events of
 * kind `progress` in the run's log: `<done>/<total> <what>`. A step may report on every unit of
 * work; at most one event per {@link PROGRESS_INTERVAL_MS} is written, and always the last
 * (`done` = `total`), so the log stays short and a follower's bar ends full.
 */
export const PROGRESS_EVENT = 'progress';
export const PROGRESS_INTERVAL_MS = 500;

export interface Progress {
  readonly done: number;
  readonly total: number;
  readonly what: string;
}

/** The event detail of a progress report. */
export function formatProgress(progress: Progress): string {
  return `${progress.done}/${progress.total} ${progress.what}`;
}

/** A progress report read back from an event's detail, or `null` when it is not one. */
export function parseProgress(detail: string): Progress | null {
  const match = /^(\d+)\/(\d+) ([\s\S]*)$/.exec(detail);
  if (!match) return null;
  return { done: Number(match[1]), total: Number(match[2]), what: match[3] as string };
}

/** A reporter that writes through `write`, throttled as described above. */
export function progressReporter(
  write: (detail: string) => Promise<void>,
  now: () => number = Date.now,
): (done: number, total: number, what: string) => Promise<void> {
  let lastAt = Number.NEGATIVE_INFINITY;
  return async (done, total, what) => {
    const safeTotal = Math.max(0, Math.floor(total));
    const safeDone = Math.min(Math.max(0, Math.floor(done)), safeTotal);
    const at = now();
    if (safeDone < safeTotal && at - lastAt < PROGRESS_INTERVAL_MS) return;
    lastAt = at;
    await write(formatProgress({ done: safeDone, total: safeTotal, what }));
  };
}
