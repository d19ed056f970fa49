/**
 * Card binding through its public surface, the HTTP API, on a real fleet: two API instances
 * (each with its own router), so read-your-writes is checked across instances; plus the card
 * number rules, the keys and the vault, which the API cannot reach directly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { PostgresCatalogStore } from '../../../src/catalog/postgres-catalog-store.ts';
import { CONSISTENCY_TOKEN_HEADER } from '../../../src/data/consistency-token.ts';
import { taggedBucket } from '../../../src/data/entity-id.ts';
import { IDEMPOTENCY_MIGRATIONS } from '../../../src/data/idempotency.ts';
import type { Router } from '../../../src/data/router.ts';
import { CardBindingService } from '../../../src/domains/cards/core/binding/binding-service.ts';
import type { BoundCard } from '../../../src/domains/cards/core/binding/binding-types.ts';
import {
  type CardKeys,
  loadOrCreateCardKeys,
} from '../../../src/domains/cards/core/binding/card-keys.ts';
import { CardVault } from '../../../src/domains/cards/core/binding/card-vault.ts';
import {
  CARD_NUMBER_PROBLEMS,
  checkCardNumber,
  describeCardNumberProblem,
  luhnCheckDigit,
  luhnValid,
} from '../../../src/domains/cards/core/card-number.ts';
import {
  bindingDemoUsers,
  loadBindingDemoData,
  writeBindingDemoData,
} from '../../../src/domains/cards/demo/binding-demo-data.ts';
import { BINDING_MIGRATIONS } from '../../../src/domains/cards/sql/binding-migrations.ts';
import { CATALOG_DATABASE } from '../../../src/fleet/fleet.ts';
import { guardedPool } from '../../../src/postgres/guarded-pool.ts';
import {
  type Api,
  bindBody,
  bindingApp,
  countCards,
  countOn,
  http,
  newUser,
  shardScanForNumbers,
  testNumber,
} from '../../support/card-binding-http.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';

describe('card numbers', () => {
  test('Luhn and the brand from the BIN, with each brand’s lengths', () => {
    const accepted: Record<string, string[]> = {
      visa: ['4111111111111111', '4222222222222', testNumber('4', 19, 7)],
      mastercard: ['5555555555554444', '2223003122003222', testNumber('2720', 16, 1)],
      amex: ['378282246310005', '371449635398431'],
      unionpay: ['6200000000000005', testNumber('62', 19, 3)],
      jcb: ['3530111333300000', '3589000000000003'],
      discover: ['6011111111111117', '6445644564456445', '6500000000000002'],
    };
    for (const [brand, numbers] of Object.entries(accepted)) {
      for (const number of numbers) {
        const checked = checkCardNumber(number);
        assert.deepEqual(checked, { ok: true, digits: number, brand, last4: number.slice(-4) });
      }
    }
    const refused: Record<string, string[]> = {
      format: ['411111111111111a', '4111 1111 1111 1111', '41111111111', '4'.repeat(20), ''],
      luhn: ['4111111111111112', '5555555555554445'],
      brand: ['1234567812345670', testNumber('3527', 16, 9), testNumber('2721', 16, 2)],
      length: [testNumber('37', 16, 5), testNumber('51', 19, 1), testNumber('4', 15, 4)],
    };
    for (const [problem, numbers] of Object.entries(refused)) {
      for (const number of numbers)
        assert.deepEqual(checkCardNumber(number), { ok: false, problem });
    }
    for (const problem of CARD_NUMBER_PROBLEMS) {
      assert.doesNotMatch(describeCardNumberProblem(problem), /\d{5,}/);
    }
  });

  test('the Luhn check digit makes a valid number, and every other digit an invalid one', () => {
    for (let n = 0; n < 200; n += 1) {
      const partial = String(1e14 + n * 7_919_113);
      const digit = luhnCheckDigit(partial);
      for (let other = 0; other <= 9; other += 1) {
        assert.equal(luhnValid(partial + String(other)), other === digit, partial);
      }
    }
  });
});

let fixture: FleetFixture;
let routerA: Router;
let routerB: Router;
let keys: CardKeys;
let appA: FastifyInstance;
let appB: FastifyInstance;
let a: Api;
let b: Api;
const catalogs: PostgresCatalogStore[] = [];
const logLines: string[] = [];
/** Every card number the tests send, so the final scans can look for each. */
const numbersSent = new Set<string>();

function catalogStore(): PostgresCatalogStore {
  const { config, fleet } = fixture;
  const pool = guardedPool({
    ...fleet.connection(config.witness.id),
    database: CATALOG_DATABASE,
    max: 2,
  });
  const store = new PostgresCatalogStore(pool);
  catalogs.push(store);
  return store;
}

async function bind(api: Api, userId: string, number: string, key: string, token?: string) {
  numbersSent.add(number);
  return api.post(`/v1/users/${userId}/cards`, bindBody(number), { key, token });
}

describe('card binding over HTTP on a real fleet', () => {
  before(async () => {
    fixture = await startFleet('card-binding', {}, [IDEMPOTENCY_MIGRATIONS, BINDING_MIGRATIONS]);
    routerA = await fixture.router({ applicationName: 'binding-a' });
    routerB = await fixture.router({ applicationName: 'binding-b' });
    const [keysA, keysB] = await Promise.all([
      loadOrCreateCardKeys(catalogStore()),
      loadOrCreateCardKeys(catalogStore()),
    ]);
    assert.ok(keysA.encryptionKey.equals(keysB.encryptionKey));
    keys = keysA;
    const logger = pino({ level: 'trace' }, { write: (line: string) => logLines.push(line) });
    appA = await bindingApp(new CardBindingService(routerA, keys), logger);
    appB = await bindingApp(new CardBindingService(routerB, keys));
    a = http(appA);
    b = http(appB);
  });
  after(async () => {
    await appA?.close();
    await appB?.close();
    await Promise.all(catalogs.map((catalog) => catalog.close()));
    await fixture?.stop();
  });

  test('card keys: processes racing to create them agree, and the catalog keeps them', async () => {
    assert.equal(keys.encryptionKey.length, 32);
    assert.equal(keys.lookupKey.length, 32);
    assert.ok(!keys.encryptionKey.equals(keys.lookupKey));
    const again = await loadOrCreateCardKeys(catalogStore());
    assert.equal(again.keyId, keys.keyId);
    assert.ok(again.lookupKey.equals(keys.lookupKey));
    const vault = new CardVault(keys);
    const sealed = vault.seal('ctok_X', { pan: '4111111111111111', holderName: 'A B' });
    assert.deepEqual(vault.open('ctok_X', sealed), { pan: '4111111111111111', holderName: 'A B' });
    assert.throws(() => vault.open('ctok_Y', sealed), 'a row moved under another token opens');
    const flipped = Buffer.from(sealed.ciphertext);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    assert.throws(() => vault.open('ctok_X', { ...sealed, ciphertext: flipped }));
  });

  test('bind on one instance, list on the other with the token: the card is there, from a replica', async () => {
    const user = await newUser(a, 'Ana Silva', 'user-1');
    const fetched = await b.get(`/v1/users/${user.id}`, user.token);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.json.fullName, 'Ana Silva');
    const bound = await bind(a, user.id, '4111111111111111', 'bind-1', user.token);
    assert.equal(bound.status, 201);
    const fields = 'brand,createdAt,expiryMonth,expiryYear,id,isDefault,last4,status,userId';
    assert.equal(Object.keys(bound.json).sort().join(), fields);
    assert.equal(bound.json.brand, 'visa');
    assert.equal(bound.json.last4, '1111');
    assert.equal(bound.json.isDefault, true);
    assert.equal(routerA.map.shardOf(bound.json.id), routerA.map.shardOf(user.id));
    const token = bound.headers[CONSISTENCY_TOKEN_HEADER.toLowerCase()] as string;
    const listed = await b.get(`/v1/users/${user.id}/cards`, token);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.json.data, [bound.json]);
    assert.deepEqual([listed.json.hasMore, listed.json.nextCursor], [false, null]);
    const replicaReads = () => routerB.stats.reads.get('replica:session') ?? 0;
    const before = replicaReads();
    for (let attempt = 0; attempt < 50 && replicaReads() === before; attempt += 1) {
      if (attempt > 0) await sleep(100);
      assert.equal((await b.get(`/v1/users/${user.id}/cards`, token)).json.data.length, 1);
    }
    assert.ok(replicaReads() > before, 'list reads are served by a replica once it caught up');
  });

  test('set default and unbind keep exactly one default; unbind is soft and idempotent', async () => {
    const user = await newUser(a, 'Jonas Berg', 'user-2');
    const numbers = ['5555555555554444', '378282246310005', '6200000000000005'];
    const cards: BoundCard[] = [];
    let token = user.token;
    for (const [index, number] of numbers.entries()) {
      const bound = await bind(index % 2 ? b : a, user.id, number, `bind-2-${index}`, token);
      assert.equal(bound.status, 201);
      cards.push(bound.json);
      token = bound.token;
    }
    const [first, second, third] = cards as [BoundCard, BoundCard, BoundCard];
    assert.deepEqual(
      cards.map((card) => card.isDefault),
      [true, false, false],
    );
    const defaulted = await b.post(`/v1/users/${user.id}/cards/${second.id}/default`, undefined, {
      key: 'def-2',
      token,
    });
    assert.equal(defaulted.status, 200);
    assert.equal(defaulted.json.isDefault, true);
    const defaults = async (api: Api, t: string) =>
      (await api.get(`/v1/users/${user.id}/cards`, t)).json.data
        .filter((card: BoundCard) => card.isDefault)
        .map((card: BoundCard) => card.id);
    assert.deepEqual(await defaults(a, defaulted.token), [second.id]);
    const unbound = await a.delete(`/v1/users/${user.id}/cards/${second.id}`, {
      key: 'del-2a',
      token: defaulted.token,
    });
    assert.equal(unbound.status, 200);
    assert.deepEqual([unbound.json.status, unbound.json.isDefault], ['unbound', false]);
    assert.deepEqual(
      await defaults(b, unbound.token),
      [third.id],
      'the newest remaining card is promoted',
    );
    const third2 = await b.delete(`/v1/users/${user.id}/cards/${third.id}`, {
      key: 'del-2b',
      token: unbound.token,
    });
    assert.deepEqual(await defaults(a, third2.token), [first.id]);
    const last = await a.delete(`/v1/users/${user.id}/cards/${first.id}`, {
      key: 'del-2c',
      token: third2.token,
    });
    assert.deepEqual((await b.get(`/v1/users/${user.id}/cards`, last.token)).json.data, []);
    const again = await b.delete(`/v1/users/${user.id}/cards/${first.id}`, {
      key: 'del-2d',
      token: last.token,
    });
    assert.equal(again.status, 200);
    assert.equal(again.json.status, 'unbound');
    assert.equal(
      again.headers['idempotent-replayed'],
      undefined,
      'a new key: not a replay, same answer',
    );
    const conflict = await a.post(`/v1/users/${user.id}/cards/${first.id}/default`, undefined, {
      key: 'def-2b',
    });
    assert.deepEqual([conflict.status, conflict.json.code], [409, 'state_conflict']);
    assert.equal(await countCards(routerA, user.id), 3, 'soft delete keeps the rows');
    const sealed =
      'SELECT 1 FROM card_vault v JOIN bound_cards c USING (token) WHERE c.user_id = $1';
    const shardId = routerA.map.shardOf(user.id);
    assert.equal(
      await countOn(routerA, shardId, sealed, [user.id]),
      0,
      'unbinding erases sealed numbers',
    );
    const rebound = await bind(b, user.id, numbers[0] as string, 'bind-2-again', last.token);
    assert.deepEqual([rebound.status, rebound.json.isDefault], [201, true]);
    assert.notEqual(rebound.json.id, first.id);
  });

  test('idempotent retries replay the first answer on any instance; a changed body is refused', async () => {
    const user = await newUser(a, 'Kenji Sato', 'user-3');
    const retry = await newUser(b, 'Kenji Sato', 'user-3');
    assert.equal(retry.id, user.id, 'a retried create lands on the same shard and replays');
    assert.equal(retry.replayed, 'true');
    const first = await bind(a, user.id, '3530111333300000', 'bind-3', user.token);
    const replay = await bind(b, user.id, '3530111333300000', 'bind-3');
    assert.equal(replay.status, 201);
    assert.deepEqual(replay.json, first.json);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.equal(first.headers['idempotent-replayed'], undefined);
    const changed = await b.post(`/v1/users/${user.id}/cards`, bindBody('3530111333300000', 11), {
      key: 'bind-3',
    });
    assert.deepEqual([changed.status, changed.json.code], [409, 'idempotency_key_reused']);
    const duplicate = await bind(a, user.id, '3530111333300000', 'bind-3-dup');
    assert.deepEqual([duplicate.status, duplicate.json.code], [409, 'card_already_bound']);
    assert.match(duplicate.json.detail, new RegExp(first.json.id));
    assert.equal(await countCards(routerA, user.id), 1);
  });

  test('concurrent binds from both instances: one default, duplicates refused, the limit holds', async () => {
    const user = await newUser(a, 'Amara Okafor', 'user-4');
    const numbers = Array.from({ length: 19 }, (_, n) => testNumber('4', 16, n));
    const results = await Promise.all(
      numbers.map((number, n) => bind(n % 2 ? b : a, user.id, number, `bind-4-${n}`)),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      numbers.map(() => 201),
    );
    assert.equal(results.filter((r) => r.json.isDefault).length, 1);
    const racing = await Promise.all([
      bind(a, user.id, testNumber('4', 16, 99), 'bind-4-x'),
      bind(b, user.id, testNumber('4', 16, 99), 'bind-4-y'),
    ]);
    assert.deepEqual(racing.map((r) => r.status).sort(), [201, 409]);
    const over = await bind(a, user.id, testNumber('4', 16, 100), 'bind-4-over');
    const failed = racing.find((r) => r.status === 409);
    assert.deepEqual(
      [failed?.json.code, over.status, over.json.code],
      ['card_already_bound', 409, 'card_limit_exceeded'],
    );
    const tokens = [...results, ...racing].map((r) => r.token);
    const token = routerB.mergeTokens(...tokens);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=7&startingAfter=${cursor}` : '?limit=7';
      const page = await b.get(`/v1/users/${user.id}/cards${query}`, token);
      assert.equal(page.status, 200);
      assert.ok(page.json.data.length <= 7);
      seen.push(...page.json.data.map((card: BoundCard) => card.id));
      cursor = page.json.nextCursor;
      assert.equal(page.json.hasMore, cursor !== null);
    } while (cursor !== null);
    assert.equal(seen.length, 20);
    assert.deepEqual(seen, [...seen].sort().reverse(), 'newest first, no repeats');
    assert.equal(new Set(seen).size, 20);
  });

  test('bad input is a problem+json, never echoes the number, and writes nothing', async () => {
    const user = await newUser(a, 'Ines Costa', 'user-5');
    const pan = '4012888888881881';
    numbersSent.add(pan);
    const good = bindBody(pan);
    const lastYear = new Date().getUTCFullYear() - 1;
    const cases: [string, unknown, number, string][] = [
      ['bad Luhn', { ...good, cardNumber: '4012888888881882' }, 422, 'card_number_invalid'],
      ['unknown brand', { ...good, cardNumber: '1234567812345670' }, 422, 'card_number_invalid'],
      ['letters', { ...good, cardNumber: '40128888888818a1' }, 400, 'invalid_request'],
      ['too short', { ...good, cardNumber: pan.slice(0, 11) }, 400, 'invalid_request'],
      ['too long', { ...good, cardNumber: `${pan}0000` }, 400, 'invalid_request'],
      ['number as a JSON number', { ...good, cardNumber: Number(pan) }, 400, 'invalid_request'],
      ['month as a string', { ...good, expiryMonth: '12' }, 400, 'invalid_request'],
      ['month 13', { ...good, expiryMonth: 13 }, 400, 'invalid_request'],
      ['expired', { ...good, expiryYear: lastYear }, 422, 'card_expiry_invalid'],
      ['unknown field', { ...good, cvv: '123' }, 400, 'invalid_request'],
      ['missing field', { cardNumber: pan, expiryMonth: 1 }, 400, 'invalid_request'],
      ['not an object', [pan], 400, 'invalid_request'],
      ['malformed JSON', `{"cardNumber": "${pan}", }`, 400, 'malformed_json'],
      ['over 1 MiB', { ...good, holderName: 'x'.repeat(1024 * 1024) }, 413, 'payload_too_large'],
    ];
    for (const [name, body, status, code] of cases) {
      const response = await a.post(`/v1/users/${user.id}/cards`, body, { key: 'bad-5' });
      assert.equal(response.status, status, name);
      assert.equal(
        response.headers['content-type'],
        'application/problem+json; charset=utf-8',
        name,
      );
      assert.equal(response.json.code, code, name);
      assert.ok(
        !response.text.includes(pan) && !response.text.includes(pan.slice(0, 11)),
        `${name} echoes the number`,
      );
    }
    const unknown = await a.post(
      `/v1/users/${user.id}/cards`,
      { ...good, cvv: '1' },
      { key: 'bad-5' },
    );
    assert.deepEqual(unknown.json.errors, [{ pointer: '/cvv', detail: 'is not allowed' }]);
    const noKey = await a.post(`/v1/users/${user.id}/cards`, good, {});
    assert.deepEqual([noKey.status, noKey.json.code], [400, 'idempotency_key_missing']);
    assert.equal(await countCards(routerA, user.id), 0);
    const fresh = await bind(a, user.id, pan, 'bad-5', user.token);
    assert.equal(fresh.status, 201, 'the key was never stored by a refused request');
    assert.equal(fresh.headers['idempotent-replayed'], undefined);
  });

  test('ids: malformed is 400, unknown or foreign is 404, list parameters are checked', async () => {
    const owner = await newUser(a, 'Omar Haddad', 'user-6');
    const other = await newUser(a, 'Raj Patel', 'user-7');
    const card = await bind(a, owner.id, '6011111111111117', 'bind-6', owner.token);
    const unknownUser = `usr_${'0'.repeat(26)}0001`;
    const beyondBuckets = `usr_${'0'.repeat(26)}ZZZZ`;
    const expectations: [Promise<{ status: number; json: { code: string } }>, number, string][] = [
      [a.get('/v1/users/not-a-user'), 400, 'invalid_request'],
      [a.get(`/v1/users/${unknownUser}`), 404, 'resource_not_found'],
      [a.get(`/v1/users/${beyondBuckets}`), 404, 'resource_not_found'],
      [b.get(`/v1/users/${unknownUser}/cards`), 404, 'resource_not_found'],
      [b.get(`/v1/users/${owner.id}/cards?limit=0`), 400, 'invalid_request'],
      [b.get(`/v1/users/${owner.id}/cards?limit=101`), 400, 'invalid_request'],
      [b.get(`/v1/users/${owner.id}/cards?startingAfter=usr_1`), 400, 'invalid_request'],
      [
        b.post(`/v1/users/${other.id}/cards/${card.json.id}/default`, undefined, { key: 'x-6' }),
        404,
        'resource_not_found',
      ],
      [
        b.delete(`/v1/users/${other.id}/cards/${card.json.id}`, { key: 'y-6' }),
        404,
        'resource_not_found',
      ],
      [
        b.post(`/v1/users/${unknownUser}/cards`, bindBody('6011000990139424'), { key: 'z-6' }),
        404,
        'resource_not_found',
      ],
      [a.post('/v1/users', { fullName: '' }, { key: 'u-6' }), 400, 'invalid_request'],
      [
        a.post('/v1/users', { fullName: 'A', email: 'not-an-email' }, { key: 'u-6' }),
        400,
        'invalid_request',
      ],
    ];
    for (const [pending, status, code] of expectations) {
      const response = await pending;
      assert.deepEqual([response.status, response.json.code], [status, code]);
    }
    assert.equal(await countCards(routerA, other.id), 0);
  });

  test('demo data: deterministic, loaded once, on the users’ shards, numbers sealed and valid', async () => {
    const catalog = catalogStore();
    const count = 60;
    const users = bindingDemoUsers(routerA.map.snapshot.bucketCount, count);
    assert.deepEqual(bindingDemoUsers(routerA.map.snapshot.bucketCount, count), users);
    await writeBindingDemoData(routerA, keys, count);
    const loaded = await loadBindingDemoData(catalog, routerA, keys, count);
    assert.equal(loaded, true, 'loads (rewriting nothing) until its flag is set');
    assert.equal(await loadBindingDemoData(catalog, routerA, keys, count), false, 'flagged: once');
    const service = new CardBindingService(routerA, keys);
    for (const user of users.slice(0, 12)) {
      assert.notEqual(taggedBucket(user.id), null);
      const page = await b.get(`/v1/users/${user.id}/cards`);
      assert.equal(page.status, 200);
      assert.deepEqual(
        page.json.data.map((c: BoundCard) => c.id),
        user.cards.map((c) => c.id).reverse(),
      );
      assert.equal(page.json.data.filter((c: BoundCard) => c.isDefault).length, 1);
      for (const card of user.cards) {
        numbersSent.add(card.pan);
        assert.equal(routerA.map.shardOf(card.id), routerA.map.shardOf(user.id));
        const checked = checkCardNumber(card.pan);
        assert.ok(checked.ok && checked.brand === card.brand, card.brand);
        const { value } = await routerA.read(user.id, (db) =>
          db.query<{ token: string }>('SELECT token FROM bound_cards WHERE id = $1', [card.id]),
        );
        assert.equal(
          (await service.vault.reveal(routerA, value.rows[0]?.token ?? ''))?.pan,
          card.pan,
        );
      }
    }
    const sample = users[0];
    assert.ok(sample?.cards[0]);
    const duplicate = await bind(a, sample.id, sample.cards[0].pan, 'demo-dup');
    assert.equal(
      duplicate.json.code,
      'card_already_bound',
      'the look-up hash finds demo cards too',
    );
    let rows = 0;
    for (const shardId of routerA.map.shardIds) {
      const sql = 'SELECT 1 FROM payment_users WHERE id = ANY($1)';
      rows += await countOn(routerA, shardId, sql, [users.map((u) => u.id)]);
    }
    assert.equal(rows, count);
  });

  test('the OpenAPI document has the binding endpoints', async () => {
    const document = (await a.get('/openapi.json')).json;
    for (const path of [
      '/v1/users',
      '/v1/users/{userId}',
      '/v1/users/{userId}/cards',
      '/v1/users/{userId}/cards/{cardId}/default',
      '/v1/users/{userId}/cards/{cardId}',
    ]) {
      assert.ok(document.paths[path], path);
    }
    assert.ok(document.components.schemas.BoundCard);
    assert.ok(document.paths['/v1/users/{userId}/cards'].post.responses['201']);
  });

  test('no card number in clear anywhere in the shard databases or the logs', async () => {
    assert.ok(numbersSent.size >= 25);
    for (const shardId of routerA.map.shardIds) {
      const hits = await shardScanForNumbers(routerA, shardId, [...numbersSent]);
      assert.deepEqual(hits, [], `shard ${shardId}`);
    }
    const control = new CardVault(keys).lookupHash('4111111111111111');
    const found = await Promise.all(
      routerA.map.shardIds.map((shardId) => shardScanForNumbers(routerA, shardId, [control])),
    );
    assert.ok(found.flat().includes('bound_cards'), 'the scan finds what is there');
    assert.ok(logLines.length > 0, 'instance A logged its requests');
    const logs = logLines.join('\n');
    for (const number of numbersSent) assert.ok(!logs.includes(number), 'a number was logged');
  });
});
