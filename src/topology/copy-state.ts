/**
 * The states of a shard's logical copy in the other data centre: the one the catalog records
 * (decides routing) and the one a probe of the subscription sees (reports health). Shared
 * vocabulary of the catalog, the fleet and the HTTP schema.
 */
export const COPY_STATES = ['replicating', 'detached', 'quarantined'] as const;

/**
 * State of a shard's logical copy: `replicating` normally; `detached` after its home DC was lost
 * and the copy became home; `quarantined` when a returning DC's copy awaits comparison and
 * re-seeding before anything may be routed to it.
 */
export type CopyState = (typeof COPY_STATES)[number];

/** What a probe of the copy's subscription finds. */
export const LOGICAL_REPLICATION_STATES = [
  'replicating',
  'initializing',
  'down',
  'unknown',
] as const;

/** State of one shard's logical copy in the other data centre, as last probed. */
export type LogicalReplicationState = (typeof LOGICAL_REPLICATION_STATES)[number];
