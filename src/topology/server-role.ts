/**
 * The roles a PostgreSQL server plays in a fleet. Shared vocabulary: the catalog records a role,
 * the fleet probes and changes it, the data layer routes by it, the config file names it. It sits
 * below all of them so that none has to import another for a word.
 */
export const SERVER_ROLES = ['primary', 'replica', 'witness'] as const;

/** A server's role in the topology. */
export type ServerRole = (typeof SERVER_ROLES)[number];
