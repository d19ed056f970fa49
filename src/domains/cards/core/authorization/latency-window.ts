/**
 * The latency window is the batching engine's (`src/engine/latency-window.ts`, decision 34);
 * re-exported under its old path for the card tests that exercise it.
 */
export { type BatchLatency, LatencyWindow } from '../../../../engine/latency-window.ts';
