import { AsyncLocalStorage } from 'node:async_hooks';
import type { ConsistencyLevel } from './router-options.ts';

/** Servers a scope remembers (a request reads from a handful at most). */
export const SERVED_BY_COUNT_MAX = 8;

/**
 * What an edge (an HTTP request) asks of the reads made on its behalf, and what it learns from
 * them. The services between the edge and the router pass neither: the router finds the scope
 * of the call in progress. A domain service asks its reads at `session` (the default contract);
 * a scope's level replaces that, while a read a service pins to another level for its own
 * correctness (the card vault at `primary`, stand-in's cache at `any`) keeps it.
 */
export interface ReadScope {
  /** The level the client chose, or `null` for the services' own. */
  readonly consistency: ConsistencyLevel | null;
  /** Ids of the servers that served the scope's reads, in order, each once. */
  readonly servedBy: string[];
}

const scopes = new AsyncLocalStorage<ReadScope>();

/**
 * Runs `work` with `scope` as the read scope of everything it calls, across awaits. (An
 * AsyncLocalStorage: on Node 20 it costs a hook per promise once any scope has run; the HTTP
 * edge opens one only on read routes.)
 */
export function runInReadScope<T>(scope: ReadScope, work: () => T): T {
  return scopes.run(scope, work);
}

/**
 * Runs `work` outside any read scope: reads it makes (and their continuations) neither take the
 * client's level nor join its `servedBy`. For work the edge does for itself on the way in, such
 * as looking up the caller's credential.
 */
export function outsideReadScope<T>(work: () => T): T {
  return scopes.exit(work);
}

/** The read scope of the call in progress, if any. */
export function currentReadScope(): ReadScope | undefined {
  return scopes.getStore();
}

/** The level a read runs at: the service's, unless it is `session` and the scope chose one. */
export function effectiveLevel(
  asked: ConsistencyLevel | undefined,
  scope: ReadScope | undefined,
): ConsistencyLevel {
  if (scope?.consistency && (asked === undefined || asked === 'session')) return scope.consistency;
  return asked ?? 'session';
}

/** Notes the server that served a read in the scope (once each, bounded). */
export function noteServedBy(scope: ReadScope | undefined, serverId: string): void {
  if (!scope || scope.servedBy.includes(serverId)) return;
  if (scope.servedBy.length < SERVED_BY_COUNT_MAX) scope.servedBy.push(serverId);
}
