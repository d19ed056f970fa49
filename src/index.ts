/**
 * Mainstay's library (`import … from 'mainstay'`): the data layer that services use (router,
 * consistency tokens, bypass and takeover), the catalog interface, the fleet, migration types,
 * the secrets port and the error catalogue. It is the one module that names the concrete pieces
 * a caller may pick from. Nothing in its import graph loads Fastify, a domain or the platform,
 * so a service that only routes queries pays for none of them; the application is
 * `mainstay/platform` and each domain its own subpath (`mainstay/cards`).
 * test/package-build.test.ts holds that line.
 */
export type { CatalogChange, CatalogSnapshot, CatalogStore } from './catalog/catalog-store.ts';
export { PostgresCatalogStore } from './catalog/postgres-catalog-store.ts';
export type { MainstayConfig } from './config/load-config.ts';
export { bucketOf } from './data/bucket-hash.ts';
export { BypassSpool } from './data/bypass/bypass-spool.ts';
export {
  type BypassOperation,
  type BypassResult,
  BypassWriter,
} from './data/bypass/bypass-writer.ts';
export {
  CONSISTENCY_TOKEN_HEADER,
  CONSISTENCY_TOKEN_MESSAGE_HEADER,
  ConsistencyToken,
  putTokenInHeaders,
  tokenFromHeaders,
} from './data/consistency-token.ts';
export {
  type Queryable,
  type ReadOptions,
  type ReadResult,
  Router,
  type WriteResult,
} from './data/router.ts';
export {
  CONSISTENCY_LEVELS,
  type ConsistencyLevel,
  type RouterOptions,
} from './data/router-options.ts';
export { ShardMap } from './data/shard-map.ts';
export { TakeoverWriter, takeoverMigrations } from './data/takeover/takeover-writer.ts';
export type { Page, TokenText, WriteAnswer, WriteContext } from './data/write-contract.ts';
export { ERROR_CATALOGUE, type ErrorCode } from './errors/error-catalogue.ts';
export { isMainstayError, MainstayError } from './errors/mainstay-error.ts';
export { FailoverController } from './fleet/failover-controller.ts';
export { Fleet } from './fleet/fleet.ts';
export type { Migration, MigrationSet } from './migrations/migration.ts';
export {
  addRootSecret,
  CatalogSecrets,
  promoteRootSecret,
  retireRootSecret,
} from './secrets/catalog-secrets.ts';
export {
  type PurposeKey,
  type PurposeKeys,
  SECRET_PURPOSES,
  type SecretPurpose,
  type SecretsPort,
} from './secrets/secrets-port.ts';
