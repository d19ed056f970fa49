/**
 * Authentication and scopes for every route (decision 46). Each route declares its security
 * requirement in its schema, the same `security` the OpenAPI document shows: `requires(scope)`
 * or {@link PUBLIC}. A hook checks the bearer credential before the body is even parsed, so an
 * unauthenticated request costs no validation and reaches no handler. The HTTP layer knows only
 * the {@link AccessControl} port; which module verifies credentials (identity) is wired at the
 * entry point.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { AccessControl, Principal } from '../access/principal.ts';
import { outsideReadScope } from '../data/read-scope.ts';
import { MainstayError } from '../errors/mainstay-error.ts';

export type { AccessControl, Principal } from '../access/principal.ts';

/** The two ways to present a credential, as named in the OpenAPI document. */
export const SECURITY_SCHEMES = {
  oauth2: 'oauth2',
  apiKey: 'apiKey',
} as const;

/** One route's security requirement, in OpenAPI form (OR of schemes, each with its scopes). */
export type SecurityRequirement = readonly Readonly<Record<string, readonly string[]>>[];

/** The scopes of the platform's own routes. */
export const PLATFORM_SCOPES: Readonly<Record<string, string>> = {
  'platform:read': 'Read the topology and the failover and catalog events.',
  'platform:metrics': 'Scrape GET /metrics (unless http.metricsPublic leaves it open).',
  'ops:manage': 'Ask for fleet operations (a re-seed), which run once another person approves.',
  'ops:secrets': 'Ask for a rotation of the root secret, which runs once another admin approves.',
  'approvals:read': 'Read sensitive requests waiting for approval, and their results.',
  'approvals:decide': 'Approve or reject sensitive requests (also needs an allowed staff role).',
  'audit:read': 'Read and verify the audit trail.',
};

/** A route anyone may call (health, the OpenAPI document, the token endpoint). */
export const PUBLIC: SecurityRequirement = [];

/** A route that needs `scope`, by access token or API key alike. */
export function requires(scope: string): SecurityRequirement {
  return [{ [SECURITY_SCHEMES.oauth2]: [scope] }, { [SECURITY_SCHEMES.apiKey]: [scope] }];
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's principal on a route that needs one; `null` on a public route. */
    principal: Principal | null;
    /**
     * Who a refused request proved to be (403: a valid credential without the scope or the
     * ownership); only the audit trail reads it. `null` otherwise.
     */
    refusedPrincipal: Principal | null;
  }
}

/** Routes a plugin adds without a schema of ours: the docs page's static assets. */
const FOREIGN_PUBLIC_PREFIXES = ['/docs'];

/** The scopes a declared requirement asks for, or `null` for a public route. */
function requiredScopes(security: SecurityRequirement): readonly string[] | null {
  if (security.length === 0) return null;
  return [...new Set(security.flatMap((scheme) => Object.values(scheme).flat()))];
}

/**
 * Installs the check on every route registered after it. A route that declares no `security`
 * is refused at registration (the server does not start), so a new route cannot be left open by
 * omission; `PUBLIC` is the explicit way to leave one open.
 */
export function registerAccessControl(app: FastifyInstance, access: AccessControl): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('refusedPrincipal', null);
  app.addHook('onRoute', (route: RouteOptions) => {
    const security = (route.schema as { security?: SecurityRequirement } | undefined)?.security;
    if (security === undefined) {
      if (FOREIGN_PUBLIC_PREFIXES.some((prefix) => route.url.startsWith(prefix))) return;
      throw new Error(
        `route ${String(route.method)} ${route.url} declares no security: use requires(scope) or PUBLIC`,
      );
    }
    const scopes = requiredScopes(security);
    if (scopes === null) return;
    const check = async (request: FastifyRequest, reply: FastifyReply) => {
      // Set already only by this process's own hooks (an approved request replayed for its
      // maker, see approval-gate.ts); never from anything a client sends.
      if (request.principal) return;
      request.principal = await authenticateRequest(request, reply, access, scopes);
    };
    const existing = route.onRequest;
    route.onRequest = existing === undefined ? [check] : [check, ...[existing].flat()];
  });
}

/** The principal of `request`, holding every scope in `scopes`; else a 401 or 403 problem. */
async function authenticateRequest(
  request: FastifyRequest,
  reply: FastifyReply,
  access: AccessControl,
  scopes: readonly string[],
): Promise<Principal> {
  const credential = bearerOf(request.headers.authorization);
  if (credential === null) {
    reply.header('www-authenticate', 'Bearer realm="mainstay"');
    throw new MainstayError(
      'unauthenticated',
      'This route needs a credential: send Authorization: Bearer <access token or API key>.',
    );
  }
  let principal: Principal;
  try {
    // The credential's own lookup is not one of the request's reads: it keeps its level and
    // does not appear in Mainstay-Served-By.
    principal = await outsideReadScope(() => access.authenticate(credential));
  } catch (error) {
    reply.header('www-authenticate', 'Bearer realm="mainstay", error="invalid_token"');
    throw error;
  }
  const missing = scopes.filter((scope) => !principal.scopes.has(scope));
  // Who was refused, for the audit trail; never the request's principal.
  if (missing.length > 0) request.refusedPrincipal = principal;
  if (missing.length > 0) {
    reply.header(
      'www-authenticate',
      `Bearer realm="mainstay", error="insufficient_scope", scope="${missing.join(' ')}"`,
    );
    throw (
      principal.refusal?.(missing) ??
      new MainstayError(
        'insufficient_scope',
        `This route needs the scope ${missing.join(' and ')}, which the credential does not hold.`,
      )
    );
  }
  const { owns } = principal;
  if (owns !== undefined) {
    request.refusedPrincipal = principal;
    checkOwnership(request, owns, scopes);
    request.refusedPrincipal = null;
  }
  return principal;
}

/** Refuses a principal confined to `owns` a route outside what it owns. */
function checkOwnership(
  request: FastifyRequest,
  owns: ReadonlySet<string>,
  scopes: readonly string[],
): void {
  const first = Object.values((request.params ?? {}) as Record<string, unknown>)[0];
  if (first === undefined && scopes.every((scope) => scope.endsWith(':self'))) return;
  if (typeof first === 'string' && owns.has(first)) return;
  throw new MainstayError(
    'insufficient_scope',
    first === undefined
      ? 'This credential acts only on its own resources, and this route names none of them.'
      : 'This credential acts only on its own resources, and the path names one that is not its own.',
  );
}

/** The credential of an `Authorization: Bearer <credential>` header, or `null` when absent. */
function bearerOf(header: string | undefined): string | null {
  if (header === undefined || header === '') return null;
  const match = /^Bearer +([\x21-\x7e]{1,4096})$/i.exec(header);
  if (!match?.[1]) {
    throw new MainstayError(
      'invalid_token',
      'The Authorization header is not "Bearer <credential>" with a credential of printable ASCII.',
    );
  }
  return match[1];
}
