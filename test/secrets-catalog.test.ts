import assert from 'node:assert/strict';
import { hkdfSync, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { CATALOG_MIGRATIONS } from '../src/catalog/catalog-migrations.ts';
import { ROOT_SECRET_FLAG } from '../src/catalog/catalog-store.ts';
import { PostgresCatalogStore } from '../src/catalog/postgres-catalog-store.ts';
import { ConsistencyToken } from '../src/data/consistency-token.ts';
import {
  CARD_KEYS_FLAG,
  cardKeysOf,
  loadOrCreateCardKeys,
  serializeCardKeys,
} from '../src/domains/cards/core/binding/card-keys.ts';
import { CardVault } from '../src/domains/cards/core/binding/card-vault.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { migrate } from '../src/migrations/migration.ts';
import { guardedPool } from '../src/postgres/guarded-pool.ts';
import {
  addRootSecret,
  CatalogSecrets,
  promoteRootSecret,
  ROOT_SECRET_RING_FLAG,
  retireRootSecret,
} from '../src/secrets/catalog-secrets.ts';
import { type OneServer, startOneServer } from './support/jobs-postgres.ts';

/**
 * The secrets port over a real catalog database: what an existing fleet already holds (its root
 * secret, its stored card keys) keeps working, and a rotation goes through the catalog.
 */

let server: OneServer;
let pool: pg.Pool;
let catalog: PostgresCatalogStore;

/** The card keys as they were made before the secrets port: HKDF of the root's text. */
function historicCardKeys(rootText: string) {
  const derive = (label: string) =>
    Buffer.from(hkdfSync('sha256', rootText, 'mainstay', `card-binding/${label}/v1`, 32));
  return cardKeysOf(derive('encryption'), derive('lookup'));
}

/** Empties the flags, as a catalog just migrated has them. */
async function clearFlags(): Promise<void> {
  await pool.query('DELETE FROM catalog_flags');
}

describe('secrets in a real catalog', () => {
  before(async () => {
    server = await startOneServer('secrets-catalog');
    pool = guardedPool({ ...server.connection, max: 4 });
    const client = await pool.connect();
    try {
      await migrate(client, [CATALOG_MIGRATIONS]);
    } finally {
      client.release();
    }
    catalog = new PostgresCatalogStore(pool);
  });
  after(async () => {
    await pool?.end();
    await server?.stop();
  });

  test('initialize makes the root secret once; the port reads it and derives from it', async () => {
    await clearFlags();
    const seed = { bucketCount: 1, dataCentres: [], servers: [], shards: [], buckets: [] };
    await catalog.initialize(seed);
    const root = await catalog.getFlag(ROOT_SECRET_FLAG);
    assert.ok(root !== null && root.length >= 40);
    await catalog.initialize(seed);
    assert.equal(await catalog.getFlag(ROOT_SECRET_FLAG), root, 'a second initialize keeps it');
    const keys = await new CatalogSecrets(catalog).keysFor('card-vault-encryption');
    assert.deepEqual(keys.current.key, historicCardKeys(root).encryptionKey);
  });

  test("an existing fleet's stored card keys still open its vault rows", async () => {
    await clearFlags();
    const rootText = randomBytes(32).toString('base64url');
    const stored = historicCardKeys(rootText);
    await catalog.setFlag(ROOT_SECRET_FLAG, rootText);
    await catalog.setFlag(CARD_KEYS_FLAG, serializeCardKeys(stored));
    const sealed = new CardVault(stored).seal('ctok_old', {
      pan: '4111111111111111',
      holderName: 'A B',
    });
    const keys = await loadOrCreateCardKeys(catalog);
    assert.equal(keys.keyId, stored.keyId);
    assert.deepEqual(new CardVault(keys).open('ctok_old', sealed), {
      pan: '4111111111111111',
      holderName: 'A B',
    });
  });

  test('a fleet whose card keys were never made gets the bytes the old code would have made', async () => {
    await clearFlags();
    const rootText = randomBytes(32).toString('base64url');
    await catalog.setFlag(ROOT_SECRET_FLAG, rootText);
    const keys = await loadOrCreateCardKeys(catalog);
    const historic = historicCardKeys(rootText);
    assert.equal(keys.keyId, historic.keyId);
    assert.ok(keys.encryptionKey.equals(historic.encryptionKey));
    assert.ok(keys.lookupKey.equals(historic.lookupKey));
    assert.equal(await catalog.getFlag(CARD_KEYS_FLAG), serializeCardKeys(historic));
  });

  test('a rotation through the catalog: tokens keep verifying, card keys stay as stored', async () => {
    await clearFlags();
    const rootText = randomBytes(32).toString('base64url');
    await catalog.setFlag(ROOT_SECRET_FLAG, rootText);
    const cardKeys = await loadOrCreateCardKeys(catalog);
    const before = await new CatalogSecrets(catalog).keysFor('consistency-token');
    const token = new ConsistencyToken(2).with(0, 7n, 2);
    const signedBefore = token.encode(before.current.key);
    const signedLegacy = token.encode(rootText);

    const added = await addRootSecret(catalog);
    assert.ok(await catalog.getFlag(ROOT_SECRET_RING_FLAG));
    const whileAdded = await new CatalogSecrets(catalog).keysFor('consistency-token');
    assert.deepEqual(whileAdded.current, before.current, 'an added root is not used yet');
    assert.ok(whileAdded.accepted.some((key) => key.keyId === added));

    await promoteRootSecret(catalog, added);
    const secrets = new CatalogSecrets(catalog);
    const promoted = await secrets.keysFor('consistency-token');
    assert.equal(promoted.current.keyId, added);
    const accepted = promoted.accepted.map((key) => key.key);
    assert.equal(ConsistencyToken.decode(signedBefore, accepted).positionFor(0), 7n);
    assert.throws(() => ConsistencyToken.decode(signedLegacy, accepted), isMainstayError);
    const again = await loadOrCreateCardKeys(catalog, secrets);
    assert.equal(again.keyId, cardKeys.keyId, 'stored card keys do not follow a rotation');

    await retireRootSecret(catalog, before.current.keyId);
    assert.equal((await secrets.keysFor('consistency-token')).accepted.length, 2, 'read once');
    secrets.reload();
    const retired = await secrets.keysFor('consistency-token');
    assert.deepEqual(
      retired.accepted.map((key) => key.keyId),
      [added],
    );
    const acceptedNow = retired.accepted.map((key) => key.key);
    assert.throws(() => ConsistencyToken.decode(signedBefore, acceptedNow), isMainstayError);
  });

  test('without a root secret the port fails, and does not keep the failure', async () => {
    await clearFlags();
    const secrets = new CatalogSecrets(catalog);
    await assert.rejects(secrets.keysFor('consistency-token'), (error: unknown) =>
      isMainstayError(error, 'catalog_unavailable'),
    );
    await catalog.setFlag(ROOT_SECRET_FLAG, randomBytes(32).toString('base64url'));
    assert.equal((await secrets.keysFor('consistency-token')).current.key.length, 32);
  });
});
