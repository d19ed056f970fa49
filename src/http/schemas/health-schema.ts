/**
 * Response schema of `GET /health`. The same body is sent with `200` and `503`: an unready
 * platform is a state the report describes, not a failed request, so it is not a problem.
 */
import { type Static, Type } from '@sinclair/typebox';
import type { HealthReport } from '../../fleet/topology-snapshot.ts';
import { assertType, type DeepMutable, type Equal, Nullable } from './schema-helpers.ts';

const ComponentHealthSchema = Type.Object(
  {
    name: Type.String(),
    ready: Type.Boolean(),
    detail: Nullable(Type.String(), { description: 'Why the component is not ready, when known.' }),
  },
  { additionalProperties: false },
);

/** Whether the platform is ready, and each component's part in that. */
export const HealthReportSchema = Type.Object(
  {
    ready: Type.Boolean({ description: '`true` only when every component is ready.' }),
    components: Type.Array(ComponentHealthSchema),
  },
  { $id: 'HealthReport', additionalProperties: false },
);

assertType<Equal<Static<typeof HealthReportSchema>, DeepMutable<HealthReport>>>(true);
