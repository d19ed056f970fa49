/**
 * Batch isolation is the batching engine's (`src/engine/batch-isolation.ts`, decision 34);
 * re-exported under its old path for the card tests that exercise it.
 */
export {
  availabilityFailure,
  type IsolationSteps,
  isAvailabilityFailure,
  itemFailure,
  runIsolated,
} from '../../../../engine/batch-isolation.ts';
