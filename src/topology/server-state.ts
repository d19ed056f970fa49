/**
 * Whether a server runs, as the fleet's supervision and probes see it. Shared vocabulary of the
 * topology snapshot, the HTTP schema and the CLI.
 */
export const SERVER_STATES = ['starting', 'up', 'down', 'stopped'] as const;

/** `up` answers queries; `down` died or does not answer; `stopped` was stopped on purpose. */
export type ServerState = (typeof SERVER_STATES)[number];
