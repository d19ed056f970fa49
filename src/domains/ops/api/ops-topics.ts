/**
 * The ops module's live topic (decision 61): `ops-runs`, the newest runs with their steps (so a
 * page shows each run's status and progress as it moves) and the cursor of the runs after them
 * (read through `GET /v1/ops/runs`), and the runs waiting for a decision, however old (the
 * oldest first past {@link OPS_WAITING_TOPIC_LIMIT}, with `waitingHasMore`). Read with the
 * scope of `GET /v1/ops/runs`.
 */
import type { StreamTopic } from '../../../platform/stream-topic.ts';
import type { WorkflowEngine } from '../../../workflow/workflow-engine.ts';
import { cursorOf } from './run-cursor.ts';

/** How many of the newest runs the topic carries. */
export const OPS_RUNS_TOPIC_LIMIT = 20;
/** How many runs waiting for a decision the topic carries. */
export const OPS_WAITING_TOPIC_LIMIT = 100;

/** The topics the ops module offers over `engine`. */
export function opsStreamTopics(engine: WorkflowEngine): Record<string, StreamTopic> {
  return {
    'ops-runs': {
      scope: 'ops:read',
      intervalMs: 500,
      async read() {
        const [newest, waiting] = await Promise.all([
          engine.list({ limit: OPS_RUNS_TOPIC_LIMIT + 1 }),
          engine.list({ limit: OPS_WAITING_TOPIC_LIMIT + 1, status: 'waiting_approval' }),
        ]);
        const runs = newest.slice(0, OPS_RUNS_TOPIC_LIMIT);
        const last = runs.at(-1);
        return {
          runs,
          nextCursor: newest.length > runs.length && last ? cursorOf(last) : null,
          waiting: waiting.slice(0, OPS_WAITING_TOPIC_LIMIT),
          waitingHasMore: waiting.length > OPS_WAITING_TOPIC_LIMIT,
        };
      },
    },
  };
}
