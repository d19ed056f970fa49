/**
 * Mounts the authorization server under `/oauth`: `POST /oauth/token` (client credentials),
 * `GET /oauth/jwks` (the public keys that verify access tokens) and the discovery document at
 * `GET /oauth/.well-known/openid-configuration`. These answer in OAuth's own error format
 * (RFC 6749 section 5.2, `{"error": "invalid_client"}`), which OAuth client libraries expect,
 * rather than problem+json: the one documented exception to the API style.
 */
import type { FastifyInstance } from 'fastify';
import type Provider from 'oidc-provider';
import { PUBLIC } from '../../../http/access-control.ts';

export const OAUTH_PREFIX = '/oauth';

/** Registers the `/oauth/*` routes; `provider` null describes them without a server behind. */
export function registerOAuthRoutes(app: FastifyInstance, provider: Provider | null): void {
  // The token endpoint takes a form body, which the authorization server reads itself: leave the
  // stream unread here (in this plugin's scope only; every other route stays JSON-only).
  app.addContentTypeParser('application/x-www-form-urlencoded', (_request, _payload, done) =>
    done(null, undefined),
  );
  const callback = provider?.callback();
  app.route({
    method: ['GET', 'POST'],
    url: `${OAUTH_PREFIX}/*`,
    schema: { hide: true, security: PUBLIC },
    handler: (request, reply) => {
      if (!callback) throw new Error('the authorization server is not running');
      reply.hijack();
      request.raw.url = request.raw.url?.slice(OAUTH_PREFIX.length) || '/';
      callback(request.raw, reply.raw);
    },
  });
}
