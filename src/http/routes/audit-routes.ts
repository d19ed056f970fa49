/**
 * `GET /v1/audit/entries` and `GET /v1/audit/verify`: reading the audit trail and checking its
 * hash chains (docs/operating/audit.md). The HTTP layer sees the trail only as
 * {@link AuditTrail}; the platform passes its `AuditLog`.
 */
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  AUDIT_PAGE_SIZE_MAX,
  AUDIT_TEXT_LENGTH_MAX,
  type AuditEntry,
  type AuditFilters,
  type AuditVerification,
  BREAK_REASONS,
  CHAIN_STATUSES,
} from '../../audit/audit-entry.ts';
import type { Page } from '../../data/write-contract.ts';
import { requires } from '../access-control.ts';
import { HANDLER_TIMEOUT_MS } from '../handler-timeout.ts';
import {
  assertType,
  type DeepMutable,
  type Equal,
  LiteralUnion,
  Nullable,
} from '../schemas/schema-helpers.ts';
import { problemResponses } from './problem-responses.ts';
import { json } from './route-helpers.ts';

/** What the routes read: the platform's `AuditLog`. */
export interface AuditTrail {
  list(
    filters: AuditFilters,
    page: { readonly limit: number; readonly startingAfter?: string },
  ): Promise<Page<AuditEntry>>;
  verify(shardId?: number): Promise<AuditVerification>;
}

/**
 * A verification reads every entry of every shard; past this the client gets `503` (run it per
 * shard with `shardId`).
 */
export const AUDIT_VERIFY_HANDLER_TIMEOUT_MS = 10 * 60_000;

const TextMap = Type.Record(Type.String(), Type.String());

/** One entry of the trail. */
export const AuditEntrySchema = Type.Object(
  {
    shardId: Type.Integer(),
    seq: Type.Integer({ minimum: 1, description: "Position in its shard's chain." }),
    id: Type.String(),
    at: Type.String({ format: 'date-time', description: 'UTC, in microseconds, as hashed.' }),
    actorKind: Type.String(),
    actor: Type.String({ description: 'The client id, key id or staff id that acted.' }),
    action: Type.String({ description: 'Method and route, e.g. `POST /v1/card-accounts`.' }),
    target: Nullable(Type.String({ description: 'The path the request was sent to.' })),
    sourceIp: Nullable(Type.String()),
    outcome: Type.Integer({ description: 'The HTTP status answered.' }),
    requestId: Nullable(Type.String({ description: 'The `Idempotency-Key` of a write.' })),
    detail: Nullable(TextMap),
    hash: Type.String({ description: 'SHA-256 of the previous hash and every field, in hex.' }),
  },
  { $id: 'AuditEntry', additionalProperties: false },
);

/** A page of entries, newest first. */
export const AuditEntryListSchema = Type.Object(
  {
    data: Type.Array(Type.Ref(AuditEntrySchema)),
    hasMore: Type.Boolean(),
    nextCursor: Nullable(Type.String()),
  },
  { $id: 'AuditEntryList', additionalProperties: false },
);

const BrokenLinkSchema = Type.Object(
  {
    seq: Type.Integer(),
    at: Nullable(Type.String()),
    actor: Nullable(Type.String()),
    action: Nullable(Type.String()),
    reason: LiteralUnion(BREAK_REASONS),
    detail: Type.String(),
  },
  { additionalProperties: false },
);

const ChainReportSchema = Type.Object(
  {
    shardId: Type.Integer(),
    status: LiteralUnion(CHAIN_STATUSES),
    entries: Type.Integer({ description: 'Entries checked.' }),
    head: Nullable(
      Type.Object(
        { seq: Type.Integer(), hash: Type.String() },
        { additionalProperties: false, description: 'Where the chain ended when the check began.' },
      ),
    ),
    brokenAt: Nullable(BrokenLinkSchema, { description: 'The first broken link.' }),
    error: Nullable(Type.String({ description: 'Why the shard could not be checked.' })),
  },
  { additionalProperties: false },
);

/** Every shard's verification. */
export const AuditVerificationSchema = Type.Object(
  { intact: Type.Boolean(), shards: Type.Array(ChainReportSchema) },
  { $id: 'AuditVerification', additionalProperties: false },
);

assertType<Equal<Static<typeof AuditEntrySchema>, DeepMutable<AuditEntry>>>(true);
assertType<Equal<Static<typeof AuditVerificationSchema>, DeepMutable<AuditVerification>>>(true);

const EntriesQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: AUDIT_PAGE_SIZE_MAX, default: 20 })),
    startingAfter: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'The previous `nextCursor`.' }),
    ),
    actor: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: AUDIT_TEXT_LENGTH_MAX.actor,
        description: "Only this actor's entries.",
      }),
    ),
  },
  { additionalProperties: false },
);

const VerifyQuery = Type.Object(
  { shardId: Type.Optional(Type.Integer({ minimum: 0, description: 'Only this shard.' })) },
  { additionalProperties: false },
);

/** Registers both routes; each needs the `audit:read` scope. */
export function registerAuditRoutes(app: FastifyInstance, trail: AuditTrail): void {
  for (const schema of [AuditEntrySchema, AuditEntryListSchema, AuditVerificationSchema])
    app.addSchema(schema);
  registerEntriesRoute(app, trail);
  registerVerifyRoute(app, trail);
}

function registerEntriesRoute(app: FastifyInstance, trail: AuditTrail): void {
  app.get<{ Querystring: Static<typeof EntriesQuery> }>(
    '/v1/audit/entries',
    {
      handlerTimeout: HANDLER_TIMEOUT_MS,
      schema: {
        security: requires('audit:read'),
        summary: 'Audit entries, newest first',
        description:
          'Every authenticated write and every staff action: who, what, when, from where, ' +
          'with what outcome. Read from the shard primaries; with `actor`, from that ' +
          "actor's shard only.",
        tags: ['audit'],
        querystring: EntriesQuery,
        response: { 200: json(AuditEntryListSchema, 'A page of entries.'), ...problemResponses },
      },
    },
    async (request) => {
      const { limit = 20, startingAfter, actor } = request.query;
      return trail.list(actor === undefined ? {} : { actor }, {
        limit,
        ...(startingAfter === undefined ? {} : { startingAfter }),
      });
    },
  );
}

function registerVerifyRoute(app: FastifyInstance, trail: AuditTrail): void {
  app.get<{ Querystring: Static<typeof VerifyQuery> }>(
    '/v1/audit/verify',
    {
      handlerTimeout: AUDIT_VERIFY_HANDLER_TIMEOUT_MS,
      schema: {
        security: requires('audit:read'),
        summary: "Verify the audit trail's hash chains",
        description:
          "Recomputes every entry's hash on every shard (or on `shardId`) and names each " +
          "chain's first broken link: `entry_altered` (the entry was changed), `link_broken` " +
          '(an entry before it was removed, inserted or rewritten), `head_mismatch` (entries ' +
          'removed from or added at the end). A shard that cannot be read is `unavailable`.',
        tags: ['audit'],
        querystring: VerifyQuery,
        response: {
          200: json(AuditVerificationSchema, "Each shard's chain."),
          ...problemResponses,
        },
      },
    },
    async (request) => trail.verify(request.query.shardId),
  );
}
