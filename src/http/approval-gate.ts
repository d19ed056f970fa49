/**
 * Maker-checker for any route (decision 47). A route that declares `config.approval` does not
 * run when called: the request (method, path, body, idempotency key, maker) is stored and
 * answered `202` with the approval request. When a different person with one of the policy's
 * roles approves it, this process replays the stored request to itself (`inject`, never over
 * the network) on behalf of its maker, once, and keeps the answer on the request. The replay
 * carries a per-process random secret that an earlier hook turns into the maker's principal, so
 * access control accepts it without a credential and no client can forge it.
 *
 * A policy may be conditional (`when`): the route supplies the predicate, the gate only calls
 * it, after the body is validated, and holds the call only when it returns true; otherwise the
 * route runs at once. The approved replay is never held again, whatever the predicate says.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Principal } from '../access/principal.ts';
import {
  APPROVAL_TTL_MINUTES_DEFAULT,
  type ApprovalStore,
  publicOf,
  type StoredApproval,
} from '../approvals/approval-store.ts';
import { fingerprintOf } from '../data/idempotency.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { json } from './routes/route-helpers.ts';
import { ApprovalRequestSchema } from './schemas/approval-schema.ts';

/** What a sensitive route declares: the action's name and who may approve it. */
export interface ApprovalPolicy {
  readonly action: string;
  readonly approverRoles: readonly string[];
  /** How long the request waits for a checker (default 24 hours). */
  readonly ttlMinutes?: number;
  /**
   * Holds only the calls for which this returns true (called after validation, with the parsed
   * body and params); without it every call is held. It may throw to refuse the call.
   */
  readonly when?: (request: FastifyRequest) => boolean | Promise<boolean>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Makes the route maker-checker: calls are stored until another person approves. */
    approval?: ApprovalPolicy;
  }
}

const EXECUTION_HEADER = 'mainstay-approval-execution';

/** Installs the gate and the `/v1/approvals` routes on the root instance, before any route. */
export function registerApprovalGate(app: FastifyInstance, store: ApprovalStore): ApprovalGate {
  const gate = new ApprovalGate(app, store);
  app.addSchema(ApprovalRequestSchema);
  app.addHook('onRequest', async (request) => gate.recognise(request));
  app.addHook('onRoute', (route: RouteOptions) => gate.guard(route));
  app.addHook('onClose', async () => gate.settle());
  return gate;
}

export class ApprovalGate {
  readonly store: ApprovalStore;
  readonly #app: FastifyInstance;
  readonly #secret = randomBytes(32).toString('base64url');
  /** Replays in flight, by approval id, with the maker's principal. */
  readonly #running = new Map<string, { principal: Principal; done: Promise<void> }>();

  constructor(app: FastifyInstance, store: ApprovalStore) {
    this.#app = app;
    this.store = store;
  }

  /** Sets the maker's principal on this process's own replay of an approved request. */
  recognise(request: FastifyRequest): void {
    const header = request.headers[EXECUTION_HEADER];
    if (typeof header !== 'string') return;
    const [secret = '', id = ''] = header.split(' ');
    const expected = Buffer.from(this.#secret);
    const given = Buffer.from(secret);
    const running = this.#running.get(id);
    if (given.length !== expected.length || !timingSafeEqual(given, expected) || !running) {
      throw new MainstayError('invalid_token', 'the approval execution header is not valid here');
    }
    request.principal = running.principal;
  }

  /** Adds the gate to a route that declares an approval policy. */
  guard(route: RouteOptions): void {
    const policy = route.config?.approval;
    if (!policy) return;
    const schema = (route.schema ?? {}) as { response?: Record<string, unknown> };
    const stored = policy.when
      ? 'When the route says a second person is needed: stored for approval by another person; nothing ran yet.'
      : 'Stored for approval by another person; nothing ran yet.';
    schema.response = { ...schema.response, 202: json(ApprovalRequestSchema, stored) };
    route.schema = schema as RouteOptions['schema'];
    const hold = async (request: FastifyRequest, reply: FastifyReply) =>
      this.#hold(policy, request, reply);
    const existing = route.preHandler;
    route.preHandler = existing === undefined ? [hold] : [...[existing].flat(), hold];
  }

  async #hold(policy: ApprovalPolicy, request: FastifyRequest, reply: FastifyReply) {
    if (request.headers[EXECUTION_HEADER] !== undefined) return; // the approved replay: run it
    if (policy.when && !(await policy.when(request))) return; // not sensitive this time: run it
    const maker = request.principal;
    if (!maker) throw new MainstayError('unauthenticated', 'a sensitive request needs a maker');
    const key = request.headers['idempotency-key'];
    const { approval, replayed } = await this.store.create(maker, {
      action: policy.action,
      approverRoles: policy.approverRoles,
      method: request.method,
      path: request.url,
      body: request.body ?? null,
      idempotencyKey: typeof key === 'string' ? key : null,
      fingerprint: fingerprintOf({ method: request.method, url: request.url, body: request.body }),
      ttlMinutes: policy.ttlMinutes ?? APPROVAL_TTL_MINUTES_DEFAULT,
    });
    if (replayed) reply.header('idempotent-replayed', 'true');
    reply.header('location', `/v1/approvals/${approval.id}`);
    return reply.code(202).send(publicOf(approval));
  }

  /** Approves (and then runs once, in the background) or rejects a stored request. */
  async decide(
    checker: Principal,
    id: string,
    decision: 'approved' | 'rejected',
    reason: string | null,
  ): Promise<StoredApproval> {
    const { approval, won } = await this.store.decide(checker, id, decision, reason);
    if (won && decision === 'approved') this.#run(approval);
    return approval;
  }

  /** Replays an approved request to this process, as its maker, and records the answer. */
  #run(approval: StoredApproval): void {
    const principal: Principal = {
      kind: approval.requesterKind,
      subject: approval.requestedBy,
      scopes: new Set(approval.requestedScopes),
      roles: new Set(),
    };
    const done = (async () => {
      try {
        const response = await this.#app.inject({
          method: approval.method as 'POST',
          url: approval.path,
          headers: {
            [EXECUTION_HEADER]: `${this.#secret} ${approval.id}`,
            ...(approval.body === null ? {} : { 'content-type': 'application/json' }),
            ...(approval.idempotencyKey ? { 'idempotency-key': approval.idempotencyKey } : {}),
          },
          ...(approval.body === null ? {} : { payload: JSON.stringify(approval.body) }),
        });
        await this.store.finish(approval.id, response.statusCode, parsed(response.body));
      } catch (error) {
        const detail = error instanceof Error ? error.message : String(error);
        await this.store
          .finish(approval.id, 500, { code: 'internal_error', detail })
          .catch(() => undefined);
      } finally {
        this.#running.delete(approval.id);
      }
    })();
    this.#running.set(approval.id, { principal, done });
  }

  /** Waits for replays in flight (the server is closing). */
  async settle(): Promise<void> {
    await Promise.all([...this.#running.values()].map((running) => running.done));
  }
}

function parsed(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}
