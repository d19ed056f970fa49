/**
 * How long a fleet-reading route may take before the client gets `503 service_unavailable`.
 * Reading the topology probes live servers; a probe stuck on a dead host must not hold the
 * request. It is set per route, on the routes that probe or query the fleet directly: Fastify
 * arms an AbortController and a timer per request for it, which on the authorization path cost
 * more than the rest of the HTTP edge, and the domain routes are bounded by their own timeouts
 * (the router's statement and write-wait bounds, stand-in's issuer timeout).
 */
export const HANDLER_TIMEOUT_MS = 10_000;
