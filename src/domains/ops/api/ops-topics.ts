/**
 * The ops module's live topic (decision 61): `ops-runs`, the newest runs with their steps (so a
 * page shows each run's status and progress as it moves), and the runs waiting for a decision,
 * however old. Read with the scope of `GET /v1/ops/runs`.
 */
import type { StreamTopic } from '../../../platform/stream-topic.ts';
import type { WorkflowEngine } from '../../../workflow/workflow-engine.ts';

/** How many of the newest runs, and of the runs waiting for a decision, the topic carries. */
export const OPS_RUNS_TOPIC_LIMIT = 20;

/** The topics the ops module offers over `engine`. */
export function opsStreamTopics(engine: WorkflowEngine): Record<string, StreamTopic> {
  return {
    'ops-runs': {
      scope: 'ops:read',
      intervalMs: 500,
      async read() {
        const [runs, waiting] = await Promise.all([
          engine.list({ limit: OPS_RUNS_TOPIC_LIMIT }),
          engine.list({ limit: OPS_RUNS_TOPIC_LIMIT, status: 'waiting_approval' }),
        ]);
        return { runs, waiting };
      },
    },
  };
}
