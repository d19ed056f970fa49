/**
 * The one catalogue of Mainstay error codes. Every error a client or operator can see, over HTTP
 * or from the CLI, has a stable `code` here with its HTTP status, a title and one line of docs.
 * `docs/reference/errors.md` is generated from this table, and a test keeps the two in step.
 *
 * `definite` tells a client whether the failed request certainly did not happen (`true`) or may
 * have happened (`false`: retry with the same idempotency key).
 */
export const ERROR_CATALOGUE = {
  invalid_request: {
    status: 400,
    title: 'Invalid request',
    definite: true,
    doc: 'The request is malformed: a field has the wrong type, is missing, or is not allowed.',
  },
  malformed_json: {
    status: 400,
    title: 'Malformed JSON',
    definite: true,
    doc: 'The request body is not valid JSON.',
  },
  invalid_text: {
    status: 400,
    title: 'Text cannot be stored',
    definite: true,
    doc: 'A string in the request (JSON body, path or query string) holds what PostgreSQL cannot store: U+0000, bytes that are not UTF-8, or an unpaired surrogate; or the body declares a charset other than UTF-8. Nothing was written.',
  },
  malformed_http: {
    status: 400,
    title: 'Malformed HTTP request',
    definite: true,
    doc: 'The HTTP parser refused the request before routing (for example both Content-Length and Transfer-Encoding, or a character a header may not hold); the connection is closed.',
  },
  request_timeout: {
    status: 408,
    title: 'Request timeout',
    definite: true,
    doc: 'The client did not send the whole request within 30 seconds; the connection is closed.',
  },
  headers_too_large: {
    status: 431,
    title: 'Request line or headers too large',
    definite: true,
    doc: 'The URL and headers together exceed 16 KB; the connection is closed.',
  },
  route_not_found: {
    status: 404,
    title: 'Route not found',
    definite: true,
    doc: 'No endpoint matches this method and path.',
  },
  method_not_allowed: {
    status: 405,
    title: 'Method not allowed',
    definite: true,
    doc: 'The path exists but does not accept this HTTP method.',
  },
  payload_too_large: {
    status: 413,
    title: 'Payload too large',
    definite: true,
    doc: 'The request body is larger than the endpoint accepts.',
  },
  unsupported_media_type: {
    status: 415,
    title: 'Unsupported media type',
    definite: true,
    doc: 'The request body is not application/json.',
  },
  unauthenticated: {
    status: 401,
    title: 'Authentication required',
    definite: true,
    doc: 'The route needs a credential and the request sent none: send `Authorization: Bearer <token>` with an access token (OAuth2 client credentials at /oauth/token) or an API key. Nothing was done.',
  },
  invalid_token: {
    status: 401,
    title: 'Invalid credential',
    definite: true,
    doc: 'The bearer credential is malformed, expired, revoked, signed by a key this fleet does not accept, or meant for another audience. Nothing was done; get a new token.',
  },
  insufficient_scope: {
    status: 403,
    title: 'Insufficient scope',
    definite: true,
    doc: 'The credential is valid but lacks the scope the route requires; the detail names the scope. Nothing was done.',
  },
  approval_self: {
    status: 403,
    title: 'Maker cannot be checker',
    definite: true,
    doc: 'The person who made a sensitive request cannot approve or reject it: another person must. Nothing was done.',
  },
  approval_role_missing: {
    status: 403,
    title: 'Role not allowed to decide',
    definite: true,
    doc: 'Deciding on this kind of request needs one of the roles the detail names (only staff sessions hold roles). Nothing was done.',
  },
  approval_expired: {
    status: 409,
    title: 'Approval request expired',
    definite: true,
    doc: 'The request waited longer than its lifetime for a decision; it can no longer be approved. Make it again.',
  },
  approval_decided: {
    status: 409,
    title: 'Approval request already decided',
    definite: true,
    doc: 'The request was already approved or rejected (by someone else); the detail says which. Nothing was done.',
  },
  rate_limited: {
    status: 429,
    title: 'Too many requests',
    definite: true,
    doc: 'This client or address sent more requests to this route than it allows in its window (logins and one-time codes); wait for Retry-After. Nothing was done.',
  },
  internal_error: {
    status: 500,
    title: 'Internal error',
    definite: false,
    doc: 'An unexpected fault. The request may or may not have taken effect; retry with the same idempotency key.',
  },
  service_unavailable: {
    status: 503,
    title: 'Service unavailable',
    definite: false,
    doc: 'A component the request needs is not ready. Retry later with the same idempotency key.',
  },
  config_invalid: {
    status: 500,
    title: 'Invalid configuration',
    definite: true,
    doc: 'The topology configuration file does not match its schema; the message names the file, the path and what was expected.',
  },
  port_in_use: {
    status: 500,
    title: 'Port in use',
    definite: true,
    doc: 'A port Mainstay must listen on is taken by another process; the message names the port and who needed it.',
  },
  postgres_binaries_missing: {
    status: 500,
    title: 'PostgreSQL binaries missing',
    definite: true,
    doc: 'The PostgreSQL binaries (embedded package or MAINSTAY_PG_BIN) could not be found or run.',
  },
  postgres_version_mismatch: {
    status: 500,
    title: 'PostgreSQL major version mismatch',
    definite: true,
    doc: 'A data directory was created by another PostgreSQL major version than the binaries in use.',
  },
  server_start_failed: {
    status: 500,
    title: 'PostgreSQL server failed to start',
    definite: true,
    doc: 'A PostgreSQL server exited or did not accept connections in time while starting; its log is named in the message.',
  },
  os_user_unavailable: {
    status: 500,
    title: 'Unprivileged OS user unavailable',
    definite: true,
    doc: 'Running as root, Mainstay could not find or create the unprivileged OS user that runs PostgreSQL.',
  },
  fleet_running: {
    status: 409,
    title: 'Fleet already running',
    definite: true,
    doc: 'Another Mainstay process already supervises the fleet in this MAINSTAY_HOME.',
  },
  environment_exists: {
    status: 409,
    title: 'Environment exists',
    definite: true,
    doc: 'An environment of this name already exists under this Mainstay home; destroy it first or choose another name.',
  },
  environment_not_found: {
    status: 404,
    title: 'Environment not found',
    definite: true,
    doc: 'No environment of this name exists under this Mainstay home.',
  },
  migration_checksum_mismatch: {
    status: 500,
    title: 'Applied migration changed',
    definite: true,
    doc: 'A migration that was already applied to a database has different SQL now; migrations are append-only.',
  },
  catalog_unavailable: {
    status: 503,
    title: 'Catalog unavailable',
    definite: false,
    doc: 'The catalog (witness) server cannot be reached; a write that needed it may or may not have happened: retry with the same idempotency key.',
  },
  invalid_shard_key: {
    status: 400,
    title: 'Invalid shard key',
    definite: true,
    doc: 'A shard key must be a non-empty string of at most 512 characters or a safe non-negative integer.',
  },
  consistency_token_invalid: {
    status: 400,
    title: 'Invalid consistency token',
    definite: true,
    doc: 'The Mainstay-Consistency-Token is malformed or its signature does not match (forged or from another fleet).',
  },
  consistency_token_expired: {
    status: 409,
    title: 'Consistency token from an older epoch',
    definite: true,
    doc: 'The token was issued before a failover moved a shard; read at consistency "primary" or drop the token.',
  },
  read_consistency_invalid: {
    status: 400,
    title: 'Read level not allowed',
    definite: true,
    doc: 'The Mainstay-Read-Consistency header names a level this route does not offer (its allowed levels are in the API reference), or is sent more than once.',
  },
  batch_too_large: {
    status: 413,
    title: 'Batch too large',
    definite: true,
    doc: 'A batch holds more items than the operation accepts; split it.',
  },
  batch_partially_written: {
    status: 503,
    title: 'Batch partially written',
    definite: false,
    doc: 'A batch spans shards and is atomic per shard: the shard groups named in the error committed, a later group failed (see its cause). Retry the rest with the same idempotency keys.',
  },
  primary_unavailable: {
    status: 503,
    title: 'No writable primary',
    definite: true,
    doc: 'No primary accepted the write within the wait bound; the write did not happen. Retry later.',
  },
  bucket_moved: {
    status: 503,
    title: 'Bucket moved',
    definite: true,
    doc: 'The write reached a shard its bucket has moved away from, and the new shard was not known within the wait bound (or the write spans buckets the move separated); the transaction was rolled back, nothing was written. Retry.',
  },
  bucket_move_invalid: {
    status: 422,
    title: 'Bucket move invalid',
    definite: true,
    doc: 'A bucket move names a bucket outside the map, a shard that does not exist, or the shard the bucket is on already; nothing was changed.',
  },
  bucket_move_unattributed: {
    status: 409,
    title: 'Bucket move refused: rows it cannot take or leave',
    definite: true,
    doc: 'A shard table holds rows a bucket move cannot attribute to a bucket (its rule is `unattributed`, no rule is declared, or rows contradict the rule), a table whose rows stay with the shard (`pinned`, as the ledger books are) has rows naming the bucket, or a table has no primary key; moving would leave rows behind, so nothing was moved (when such rows appear while the bucket is copied, the cutover is refused and nothing is cut over). The detail names the tables.',
  },
  bucket_move_aborted: {
    status: 503,
    title: 'Bucket move aborted: the pause outlasted its bound',
    definite: true,
    doc: "A bucket move's cutover did not reach its commit within the pause's bound (a shard stopped answering, or a lock was held for long): the source's transaction was ended, so the bucket's writes resumed on the source shard and nothing was cut over. Give the move up (an ops run compensates by itself) and move again once both shards answer.",
  },
  write_outcome_unknown: {
    status: 503,
    title: 'Write outcome unknown',
    definite: false,
    doc: 'The connection failed while the write was committing; it may have happened. Retry with the same idempotency key.',
  },
  read_unavailable: {
    status: 503,
    title: 'Read cannot be served',
    definite: true,
    doc: 'No server could serve the read at the requested consistency within its bounds (or the primary fallback cap was reached).',
  },
  bypass_spool_full: {
    status: 503,
    title: 'Bypass spool full',
    definite: true,
    doc: 'The local store-and-forward spool reached its size bound; the operation was not recorded.',
  },
  bypass_spool_corrupt: {
    status: 500,
    title: 'Bypass spool corrupt',
    definite: true,
    doc: 'A record inside the bypass spool fails its checksum (not a torn tail from a crash); an operator must inspect it.',
  },
  idempotency_key_reused: {
    status: 409,
    title: 'Idempotency key reused',
    definite: true,
    doc: 'The idempotency key (or client-chosen request id) was already used with a request whose fields differ; nothing was written.',
  },
  idempotency_key_missing: {
    status: 400,
    title: 'Idempotency key missing',
    definite: true,
    doc: 'This write needs an Idempotency-Key header (1 to 255 printable ASCII characters).',
  },
  idempotency_key_invalid: {
    status: 400,
    title: 'Idempotency key invalid',
    definite: true,
    doc: 'The Idempotency-Key header is empty, longer than 255 characters, or holds characters other than printable ASCII (spaces only inside).',
  },
  resource_not_found: {
    status: 404,
    title: 'Resource not found',
    definite: true,
    doc: 'No resource with this id exists (or it is not visible to the caller).',
  },
  invalid_amount: {
    status: 422,
    title: 'Invalid amount',
    definite: true,
    doc: 'The amount is not a positive integer of minor units within 1 and 2^53 - 1, or exceeds what the operation allows.',
  },
  currency_unsupported: {
    status: 422,
    title: 'Unsupported currency',
    definite: true,
    doc: 'The currency is not an ISO 4217 code this resource accepts (a card account has one currency).',
  },
  state_conflict: {
    status: 409,
    title: 'Conflicting state',
    definite: true,
    doc: 'The resource is not in a state that allows this action (for example capturing an authorization that was fully reversed); nothing was written.',
  },
  overloaded: {
    status: 503,
    title: 'Overloaded',
    definite: true,
    doc: 'A bounded queue is full and the request was refused before any work; retry after the Retry-After delay.',
  },
  reseed_incomplete: {
    status: 503,
    title: 'Re-seed not finished',
    definite: false,
    doc: 'The re-seed of a returning data centre stopped part-way (a copy did not catch up in time, or a replication slot stayed in use). What it did is kept and nothing was lost; run it again to continue (the same request: it needs no key, as if retried with the same idempotency key).',
  },
  workflow_unknown: {
    status: 422,
    title: 'Unknown workflow',
    definite: true,
    doc: 'No workflow of that name exists; the detail lists the known ones (`GET /v1/ops/workflows`). Nothing was started.',
  },
  module_unknown: {
    status: 422,
    title: 'Unknown ops module',
    definite: true,
    doc: 'No atomic ops module of that name exists; the detail lists the known ones (`GET /v1/ops/modules`). Nothing was started.',
  },
  preflight_refused: {
    status: 409,
    title: 'Preflight refused',
    definite: true,
    doc: 'A step of an operation checked the fleet before acting and found it could not run now (a candidate not streaming, a replica behind); the detail says why. The step changed nothing and is not retried.',
  },
  operation_in_progress: {
    status: 409,
    title: 'Fleet operation in progress',
    definite: true,
    doc: 'Another planned fleet operation (a switchover, a replica rebuild) is running; nothing was done. Run it again once that one has finished.',
  },
  switchover_refused: {
    status: 409,
    title: 'Switchover refused',
    definite: true,
    doc: 'The preflight of a planned switchover failed: the candidate replica is down, not streaming from the primary, too far behind, or the data centre is mid-failover; the detail says which. Nothing was changed.',
  },
  switchover_aborted: {
    status: 503,
    title: 'Switchover aborted',
    definite: true,
    doc: "A switchover stopped before the promotion (the candidate did not replay all of the old primary's WAL in time): the old primary was started again and unfenced and serves as before. Nothing switched; retry later.",
  },
  dc_switchover_refused: {
    status: 409,
    title: 'Data-centre switchover refused',
    definite: true,
    doc: "The preflight of a planned data-centre switchover failed: an unknown data centre, the same one twice, one that homes no shard, a server fenced, down or not answering, or a shard's copy not replicating or not caught up within the bound; the detail says which. Nothing was changed.",
  },
  dc_switchover_aborted: {
    status: 503,
    title: 'Data-centre switchover aborted',
    definite: true,
    doc: "A data-centre switchover stopped during its write pause, before any shard changed home (a copy did not apply its home's last writes in time): the old homes were made writable again and serve as before. Nothing switched; retry later.",
  },
  backup_invalid: {
    status: 422,
    title: 'Backup invalid',
    definite: true,
    doc: "A backup's manifest is missing or malformed, or a file is missing, extra, or differs from its recorded size and SHA-256; it cannot be restored. The detail names the files.",
  },
  data_centre_unknown: {
    status: 422,
    title: 'Unknown data centre',
    definite: true,
    doc: 'No data centre of that id is in the fleet; the detail lists the known ones. Nothing was changed.',
  },
  server_not_removable: {
    status: 409,
    title: 'Server not removable',
    definite: true,
    doc: 'Only a server added beyond the configuration (a spare from provision-server, a replica from add-replica) can be removed; the configured primaries, replicas and witness cannot. Nothing was changed.',
  },
} as const satisfies Record<string, ErrorSpec>;

/** The shape of one catalogue entry. */
export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
  readonly definite: boolean;
  readonly doc: string;
}

/**
 * The codes domain modules add: each module augments this interface with its own codes
 * (`declare module`), so a `MainstayError` with one of them type-checks without this file
 * naming any domain, and registers their entries with {@link registerErrorCodes}.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging in each module
export interface ModuleErrorCodes {}

/** A stable error code: the platform's ({@link ERROR_CATALOGUE}) or a module's. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE | keyof ModuleErrorCodes;

/** The platform's own codes, in catalogue order. */
export const PLATFORM_ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

const moduleEntries = new Map<string, { readonly owner: string; readonly spec: ErrorSpec }>();

/**
 * Adds a module's codes to the catalogue (`owner` names the module). Registering the same
 * entries again is harmless; a code the platform or another module already has is an error.
 */
export function registerErrorCodes(owner: string, specs: Readonly<Record<string, ErrorSpec>>) {
  for (const [code, spec] of Object.entries(specs)) {
    const known = moduleEntries.get(code);
    if (known?.owner === owner) continue;
    if (known || code in ERROR_CATALOGUE)
      throw new Error(`error code ${code} of ${owner} is already in the catalogue`);
    moduleEntries.set(code, { owner, spec });
  }
}

/** The entry of `code`; an unregistered module code answers as `internal_error`. */
export function errorSpecOf(code: ErrorCode): ErrorSpec {
  if (code in ERROR_CATALOGUE) return ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE];
  return moduleEntries.get(code)?.spec ?? ERROR_CATALOGUE.internal_error;
}

/** Every code known now: the platform's, then each registered module's, in registration order. */
export function errorCodes(): ErrorCode[] {
  return [...PLATFORM_ERROR_CODES, ...(moduleEntries.keys() as Iterable<ErrorCode>)];
}

/** Who defines `code`: `platform` or the module that registered it. */
export function errorOwnerOf(code: ErrorCode): string {
  return moduleEntries.get(code)?.owner ?? 'platform';
}
