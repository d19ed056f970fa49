import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CONSISTENCY_TOKEN_HEADER,
  ConsistencyToken,
  putTokenInHeaders,
  tokenFromHeaders,
} from '../src/data/consistency-token.ts';
import { BatchPartiallyWrittenError, type Router } from '../src/data/router.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { buildHttpServer } from '../src/http/build-http-server.ts';
import { setConsistencyToken } from '../src/http/consistency-header.ts';
import { countAppendsOnPrimaries, type FleetFixture, startFleet } from './support/fleet-fixture.ts';
import { pauseReplay, readVersion, setVersion } from './support/router-checks.ts';

let fixture: FleetFixture;
let routerA: Router;
let routerB: Router;

describe('router on a real two-DC fleet', () => {
  before(async () => {
    fixture = await startFleet('router');
    routerA = await fixture.router({ applicationName: 'service-a' });
    routerB = await fixture.router({ applicationName: 'service-b' });
  });
  after(async () => {
    await pauseReplay(fixture, false).catch(() => undefined);
    await fixture?.stop();
  });

  test('a write goes to the home primary and returns a token; a session read sees it from another router', async () => {
    const key = 'cus_token_1';
    const shardId = routerA.map.shardOf(key);
    const written = await setVersion(routerA, key, 1);
    assert.equal(written.shardId, shardId);
    assert.match(written.lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
    const token = routerB.decodeToken(written.token);
    assert.ok((token.positionFor(shardId) ?? 0n) > 0n);
    const read = await readVersion(routerB, key, { consistency: 'session', token: written.token });
    assert.equal(read.version, 1);
    const route = routerB.map.route(shardId);
    assert.ok([route.primary?.id, ...route.replicas.map((r) => r.id)].includes(read.servedBy));
  });

  test('reads go where their level says', async () => {
    const key = 'cus_levels';
    const { token } = await setVersion(routerA, key, 7);
    const route = routerA.map.route(routerA.map.shardOf(key));
    assert.equal(
      (await readVersion(routerA, key, { consistency: 'primary' })).servedBy,
      route.primary?.id,
    );
    await sleep(300);
    const replicaIds = route.replicas.map((r) => r.id);
    for (const consistency of ['any', 'bounded', 'session'] as const) {
      const read = await readVersion(routerB, key, { consistency, token });
      assert.equal(read.target, 'replica', `${consistency} read went to ${read.servedBy}`);
      assert.ok(replicaIds.includes(read.servedBy));
      assert.equal(read.version, 7);
    }
  });

  test('without a token, the recent-write tracker keeps a process reading its own writes', async () => {
    await pauseReplay(fixture, true);
    try {
      const key = 'cus_tracked';
      await setVersion(routerA, key, 1);
      await setVersion(routerA, key, 2);
      const read = await readVersion(routerA, key, { consistency: 'session' });
      assert.equal(read.version, 2);
      assert.equal(read.target, 'primary');
    } finally {
      await pauseReplay(fixture, false);
    }
  });

  test('consistency checker: 0 stale session reads across two routers under forced lag; `any` reads do see staleness', async () => {
    const keys = Array.from({ length: 16 }, (_, i) => `cus_check_${i}`);
    for (const key of keys) await setVersion(routerA, key, 0);
    await sleep(200);
    await pauseReplay(fixture, true);
    let staleSession = 0;
    let staleAny = 0;
    let sessionReads = 0;
    let anyReads = 0;
    let replicaServedSession = 0;
    try {
      const queue: { key: string; version: number; token: string }[] = [];
      const writer = async (offset: number) => {
        for (let round = 1; round <= 15; round += 1) {
          const key = keys[(round * 3 + offset) % keys.length] as string;
          const version = round * 100 + offset;
          const { token } = await setVersion(routerA, key, version);
          queue.push({ key, version, token });
        }
      };
      const reader = async () => {
        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline) {
          const message = queue.shift();
          if (!message) {
            if (done) return;
            await sleep(2);
            continue;
          }
          const session = await readVersion(routerB, message.key, {
            consistency: 'session',
            token: message.token,
          });
          sessionReads += 1;
          if (session.version < message.version) staleSession += 1;
          if (session.target === 'replica') replicaServedSession += 1;
          const any = await readVersion(routerB, message.key, { consistency: 'any' });
          anyReads += 1;
          if (any.version < message.version) staleAny += 1;
        }
      };
      let done = false;
      const readers = [reader(), reader()];
      await Promise.all([writer(0), writer(1), writer(2)]);
      done = true;
      await Promise.all(readers);
    } finally {
      await pauseReplay(fixture, false);
    }
    assert.equal(sessionReads, 45);
    assert.equal(staleSession, 0, 'a session read returned data older than its token');
    assert.equal(replicaServedSession, 0, 'with replay paused no replica can serve a session read');
    assert.ok(
      staleAny > 0,
      `the checker must see staleness in "any" reads under lag (${anyReads} reads)`,
    );
  });

  test('bounded reads leave a lagging replica for the primary; the fallback cap refuses the excess', async () => {
    const capped = await fixture.router({ primaryFallbackPerSecondMax: 2 });
    const key = 'cus_bounded';
    await setVersion(routerA, key, 1);
    await pauseReplay(fixture, true);
    try {
      await setVersion(routerA, key, 2);
      const deadline = Date.now() + 5_000;
      while (
        Date.now() < deadline &&
        capped.monitor.observe(capped.map.route(capped.map.shardOf(key)).replicas[0]?.id ?? '')
          .lagMs < 300
      ) {
        await sleep(50);
      }
      const outcomes: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        try {
          const read = await readVersion(capped, key, { consistency: 'bounded', maxLagMs: 200 });
          outcomes.push(read.target);
          assert.equal(read.version, 2);
        } catch (error) {
          assert.ok(isMainstayError(error, 'read_unavailable'), String(error));
          outcomes.push('refused');
        }
      }
      assert.deepEqual(outcomes.slice(0, 2), ['primary', 'primary']);
      assert.ok(outcomes.includes('refused'), outcomes.join());
      assert.ok(capped.stats.fallbacksRefused > 0);
    } finally {
      await pauseReplay(fixture, false);
    }
  });

  test('bad input: shard key types, malformed and forged tokens, oversize batch; nothing written', async () => {
    for (const key of [{}, [], 1.5, -1, Number.NaN, '', 'x'.repeat(513), null, undefined, true]) {
      await assert.rejects(
        routerA.write(key, (tx) => tx.query(`INSERT INTO appends VALUES ('never', 'x')`)),
        (error) => isMainstayError(error, 'invalid_shard_key'),
        `key ${String(key)}`,
      );
    }
    const good = (await setVersion(routerA, 'cus_forge', 1)).token;
    const [prefix, payload, mac] = good.split('.') as [string, string, string];
    const altered = Buffer.from(
      Buffer.from(payload, 'base64url')
        .toString()
        .replace(/:[0-9A-F]+\//, ':FF/'),
    ).toString('base64url');
    for (const token of [
      'garbage',
      'mst1..',
      `${prefix}.${altered}.${mac}`,
      `${prefix}.${payload}.${'A'.repeat(22)}`,
      'x'.repeat(5000),
    ]) {
      await assert.rejects(
        readVersion(routerB, 'cus_forge', { consistency: 'session', token }),
        (error) => isMainstayError(error, 'consistency_token_invalid'),
        token.slice(0, 40),
      );
      await assert.rejects(setVersion(routerB, 'cus_forge', 9, token), (error) =>
        isMainstayError(error, 'consistency_token_invalid'),
      );
    }
    const foreign = new ConsistencyToken(1, new Map([[0, { lsn: 1n, epoch: 1 }]])).encode(
      'another-fleet-secret',
    );
    await assert.rejects(readVersion(routerB, 'cus_forge', { token: foreign }), (error) =>
      isMainstayError(error, 'consistency_token_invalid'),
    );
    const items = Array.from({ length: 1001 }, (_, i) => ({ id: `batch_${i}` }));
    await assert.rejects(
      routerA.writeBatch(
        items,
        (item) => item.id,
        (tx, group) =>
          tx.query('INSERT INTO appends SELECT unnest($1::text[]), $2', [
            group.map((g) => g.id),
            'b',
          ]),
      ),
      (error) => isMainstayError(error, 'batch_too_large'),
    );
    const mixed = [{ id: 'batch_ok_1' }, { id: 'batch_ok_2' }, { id: 42.5 }];
    await assert.rejects(
      routerA.writeBatch(
        mixed,
        (item) => item.id,
        (tx, group) =>
          tx.query('INSERT INTO appends SELECT unnest($1::text[]), $2', [
            group.map((g) => String(g.id)),
            'b',
          ]),
      ),
      (error) => isMainstayError(error, 'invalid_shard_key'),
    );
    for (const shardId of routerA.map.shardIds) {
      const { value } = await routerA.readShard(
        shardId,
        (db) =>
          db.query(
            `SELECT count(*)::int AS n FROM appends WHERE id LIKE 'batch_%' OR id = 'never'`,
          ),
        { consistency: 'primary' },
      );
      assert.equal(value.rows[0].n, 0);
    }
    const verify = await readVersion(routerA, 'cus_forge', { consistency: 'primary' });
    assert.equal(verify.version, 1);
  });

  test('a batch is grouped per shard, atomic per shard, and its token covers every shard it wrote', async () => {
    const items = Array.from({ length: 40 }, (_, i) => ({ id: `batch_good_${i}` }));
    const { results, token } = await routerA.writeBatch(
      items,
      (item) => item.id,
      async (tx, group) =>
        (
          await tx.query('INSERT INTO appends SELECT unnest($1::text[]), $2', [
            group.map((g) => g.id),
            'b',
          ])
        ).rowCount,
    );
    assert.equal(
      [...results.values()].reduce((sum: number, n) => sum + (n ?? 0), 0),
      40,
    );
    const decoded = routerB.decodeToken(token);
    assert.deepEqual([...decoded.shards].sort(), [...results.keys()].sort());
  });

  test('a one-statement write travels in one message and keeps the write guarantees', async () => {
    const key = 'cus_statement_1';
    const tricky = "o'clock \\ $1 -- not a comment; DROP TABLE appends; /* x */";
    const written = await routerA.writeStatement(
      key,
      'INSERT INTO appends (id, body) VALUES ($1, $2) RETURNING body',
      [key, tricky],
    );
    assert.equal(written.value.rows[0]?.body, tricky);
    assert.equal(written.shardId, routerA.map.shardOf(key));
    const read = await routerB.read(
      key,
      (db) => db.query('SELECT body FROM appends WHERE id = $1', [key]),
      { consistency: 'session', token: written.token },
    );
    assert.equal(read.value.rows[0]?.body, tricky);
    // A failing statement commits nothing and leaves the connection usable.
    await assert.rejects(
      routerA.writeStatement(key, 'INSERT INTO appends (id, body) VALUES ($1, $2)', [key, 'dup']),
      /duplicate key/,
    );
    await assert.rejects(
      routerA.writeStatement(key, 'UPDATE appends SET body = $2 WHERE id = $1', [key]),
      (error) => isMainstayError(error, 'invalid_request'),
    );
    const after = await routerA.read(
      key,
      (db) => db.query('SELECT body FROM appends WHERE id = $1', [key]),
      { consistency: 'primary' },
    );
    assert.equal(after.value.rows[0]?.body, tricky);
  });

  test('a batch failing in a later shard group says which groups committed', async () => {
    const items = Array.from({ length: 40 }, (_, i) => ({ id: `batch_partial_${i}` }));
    const firstShard = routerA.map.shardOf(items[0]?.id);
    const failing = items.map((item) => routerA.map.shardOf(item.id)).find((s) => s !== firstShard);
    assert.notEqual(failing, undefined);
    const error = await routerA
      .writeBatch(
        items,
        (item) => item.id,
        async (tx, group, shardId) => {
          if (shardId === failing) throw new Error('this group is refused');
          await tx.query('INSERT INTO appends SELECT unnest($1::text[]), $2', [
            group.map((g) => g.id),
            'p',
          ]);
          return group.length;
        },
      )
      .then(
        () => null,
        (caught: unknown) => caught,
      );
    assert.ok(error instanceof BatchPartiallyWrittenError);
    assert.equal(error.code, 'batch_partially_written');
    assert.equal(error.failedShardId, failing);
    assert.ok(error.committed.has(firstShard));
    assert.ok(!error.committed.has(failing as number));
    const committedIds = items.filter((i) => error.committed.has(routerA.map.shardOf(i.id)));
    assert.equal(
      await countAppendsOnPrimaries(
        routerA,
        committedIds.map((i) => i.id),
      ),
      committedIds.length,
    );
    const failedIds = items.filter((i) => routerA.map.shardOf(i.id) === failing).map((i) => i.id);
    assert.equal(await countAppendsOnPrimaries(routerA, failedIds), 0);
    assert.deepEqual(
      [...routerB.decodeToken(error.token).shards].sort(),
      [...error.committed.keys()].sort(),
    );
  });

  test('an application error rolls the transaction back; an aborted transaction is not reported committed', async () => {
    await assert.rejects(
      routerA.write('cus_rollback', async (tx) => {
        await tx.query(`INSERT INTO appends VALUES ('rolled_back', 'x')`);
        throw new Error('business rule says no');
      }),
      /business rule says no/,
    );
    await assert.rejects(
      routerA.write('cus_rollback', async (tx) => {
        await tx.query(`INSERT INTO appends VALUES ('aborted', 'x')`);
        await tx.query('SELECT 1/0').catch(() => undefined);
      }),
      (error) => isMainstayError(error, 'invalid_request'),
    );
    const { value } = await routerA.read(
      'cus_rollback',
      (db) =>
        db.query(`SELECT count(*)::int AS n FROM appends WHERE id IN ('rolled_back', 'aborted')`),
      { consistency: 'primary' },
    );
    assert.equal(value.rows[0].n, 0);
  });

  test('tokens merge and travel in message headers', async () => {
    const one = await setVersion(routerA, 'cus_merge_a', 1);
    const two = await setVersion(routerB, 'cus_merge_b', 1);
    const merged = routerA.decodeToken(routerA.mergeTokens(one.token, two.token));
    assert.equal(merged.positionFor(one.shardId) !== null, true);
    assert.equal(merged.positionFor(two.shardId) !== null, true);
    // A producer puts its token on a message; a consumer (another router) reads its writes.
    const message = routerA.tokenToHeaders({ 'content-type': 'application/json' }, one.token);
    const carried = routerB.tokenFromHeaders(message);
    assert.ok(carried);
    assert.equal(
      carried.positionFor(one.shardId),
      routerA.decodeToken(one.token).positionFor(one.shardId),
    );
    const both = routerB.tokenFromHeaders(routerA.tokenToHeaders(message, two.token));
    assert.notEqual(both?.positionFor(two.shardId) ?? null, null);
    assert.throws(
      () => routerB.tokenFromHeaders({ 'mainstay-consistency-token': 'forged' }),
      (error) => isMainstayError(error, 'consistency_token_invalid'),
    );
    assert.equal(routerB.tokenFromHeaders({}), null);
    const foreign = putTokenInHeaders({}, carried, 'another-fleet-secret');
    assert.throws(
      () => routerB.tokenFromHeaders(foreign),
      (error) => isMainstayError(error, 'consistency_token_invalid'),
    );
    assert.ok(tokenFromHeaders(foreign, 'another-fleet-secret'));
  });

  test('the Mainstay-Consistency-Token header carries read-your-writes across two HTTP services', async () => {
    const unavailable = () => Promise.reject(new Error('unused'));
    const source = { topology: unavailable, health: unavailable };
    const writer = await buildHttpServer({ source, version: 'test' });
    writer.post<{ Body: { key: string; version: number } }>(
      '/v1/test-writes',
      async (request, reply) => {
        const { token } = await setVersion(
          routerA,
          request.body.key,
          request.body.version,
          request.consistencyToken ?? undefined,
        );
        setConsistencyToken(reply, token);
        return reply.code(201).send({ ok: true });
      },
    );
    const reader = await buildHttpServer({ source, version: 'test' });
    reader.get<{ Params: { key: string } }>('/v1/test-reads/:key', async (request) => {
      const read = await readVersion(routerB, request.params.key, {
        consistency: 'session',
        token: request.consistencyToken,
      });
      return { version: read.version };
    });
    const writerUrl = await writer.listen({ port: 0, host: '127.0.0.1' });
    const readerUrl = await reader.listen({ port: 0, host: '127.0.0.1' });
    try {
      await pauseReplay(fixture, true);
      const written = await fetch(`${writerUrl}/v1/test-writes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'cus_http', version: 5 }),
      });
      assert.equal(written.status, 201);
      const token = written.headers.get(CONSISTENCY_TOKEN_HEADER);
      assert.ok(token);
      const read = await fetch(`${readerUrl}/v1/test-reads/cus_http`, {
        headers: { [CONSISTENCY_TOKEN_HEADER]: token },
      });
      assert.deepEqual(await read.json(), { version: 5 });
      const forged = await fetch(`${readerUrl}/v1/test-reads/cus_http`, {
        headers: { [CONSISTENCY_TOKEN_HEADER]: `${token}x` },
      });
      assert.equal(forged.status, 400);
      assert.equal(((await forged.json()) as { code: string }).code, 'consistency_token_invalid');
    } finally {
      await pauseReplay(fixture, false);
      await writer.close();
      await reader.close();
    }
  });
});
