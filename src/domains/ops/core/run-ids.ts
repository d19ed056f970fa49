import { newEntityId } from '../../../data/entity-id.ts';

/** A new run id (`run_…`, sortable by time). Runs live in the catalog, not on a shard: bucket 0. */
export function newRunId(): string {
  return newEntityId('run', 0);
}
