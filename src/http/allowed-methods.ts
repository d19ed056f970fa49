/**
 * Which methods a path accepts, so a wrong method is `405 method_not_allowed` with an `Allow`
 * header (RFC 9110 §15.5.6), as the errors reference promises, rather than a 404 that tells the
 * client the resource does not exist. Fastify's router answers only "no route for this method
 * and path"; this table, filled from `onRoute`, tells the two cases apart when that happens.
 */
import type { RouteOptions } from 'fastify';

/** One route's path as a pattern, and the methods registered on it. */
interface RoutePattern {
  readonly pattern: RegExp;
  readonly methods: Set<string>;
}

/** The path patterns of every registered route; consulted only on a miss, so never hot. */
export class AllowedMethods {
  readonly #routes = new Map<string, RoutePattern>();

  /** Fastify `onRoute` hook: records the route's methods under its path. */
  readonly record = (route: RouteOptions): void => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    let entry = this.#routes.get(route.url);
    if (entry === undefined) {
      entry = { pattern: patternOf(route.url), methods: new Set() };
      this.#routes.set(route.url, entry);
    }
    for (const method of methods) entry.methods.add(method.toUpperCase());
    // Fastify answers HEAD for every GET route (exposeHeadRoutes).
    if (entry.methods.has('GET')) entry.methods.add('HEAD');
  };

  /** The methods some route accepts on `path` (without its query), sorted; empty when none. */
  forPath(path: string): string[] {
    const allowed = new Set<string>();
    for (const { pattern, methods } of this.#routes.values()) {
      if (pattern.test(path)) for (const method of methods) allowed.add(method);
    }
    return [...allowed].sort();
  }
}

/**
 * A route path as a regular expression: `:name` segments (also with a regular-expression
 * constraint, or several parameters in one segment) match one segment; `*` matches the rest.
 */
function patternOf(url: string): RegExp {
  const segments = url.split('/').map((segment) => {
    if (segment === '*') return '.*';
    if (segment.includes(':')) return '[^/]+';
    return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${segments.join('/')}$`);
}
