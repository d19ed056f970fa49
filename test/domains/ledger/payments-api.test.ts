/**
 * Payments over HTTP against a real platform (decision 50): a P2P payment with its fee, retried
 * and reused keys, a QR code made, paid, replayed and refused when altered or paid twice, a batch
 * file uploaded with bad lines (raw U+0000 and bytes that are not UTF-8 among them) completed with
 * its per-line results read by cursor, and bad input refused with problem+json and nothing written.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BATCH_CSV_HEADER } from '../../../src/domains/ledger/payments/core/batch-file.ts';
import { authHeaders } from '../../support/demo-credentials.ts';
import { startTestPlatform } from '../../support/platform-call.ts';
import { removeHome, tempHome } from '../../support/temp-home.ts';

const home = tempHome('payments-api');
const P2P_FEE = 3;
const QR_BASIS_POINTS = 100;
let platform: Awaited<ReturnType<typeof startTestPlatform>>;
let key = 0;

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const raw = Buffer.isBuffer(body) || typeof body === 'string';
  const response = await fetch(`${platform.url}${url}`, {
    method,
    headers: {
      ...authHeaders(home),
      ...(body === undefined || raw ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: raw ? (body as string | Buffer) : JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

const next = (label: string) => `${label}-${process.pid}-${++key}`;
const write = (url: string, body: unknown, idempotencyKey = next('k'), headers = {}) =>
  call('POST', url, body, { 'idempotency-key': idempotencyKey, ...headers });

describe('payments over HTTP', () => {
  let funding: { shardId: number; id: string }[];

  before(async () => {
    const file = path.join(home, 'mainstay.config.json');
    writeFileSync(
      file,
      JSON.stringify({
        ledger: {
          payments: {
            fees: [
              { kind: 'p2p', currency: 'CNY', fixed: P2P_FEE },
              { kind: 'qr', currency: 'CNY', basisPoints: QR_BASIS_POINTS, chargedTo: 'payee' },
            ],
          },
        },
      }),
    );
    platform = await startTestPlatform(home, { MAINSTAY_CONFIG: file });
    for (const [code, kind] of [
      ['fees', 'fees'],
      ['in-transit', 'in_transit'],
      ['payments-funding', 'suspense'],
    ]) {
      const opened = await call('POST', '/v1/ledger/institution-accounts', {
        code,
        kind,
        currency: 'CNY',
      });
      assert.equal(opened.status, 200, JSON.stringify(opened.body));
      if (code === 'payments-funding')
        funding = opened.body.stripes as { shardId: number; id: string }[];
    }
  });
  after(async () => {
    await platform?.stop();
    removeHome(home);
  });

  /** A wallet on the shard of funding stripe `stripe`, holding `amount`. */
  async function wallet(amount: number, stripe = 0): Promise<string> {
    const from = funding[stripe]?.id as string;
    const opened = await write('/v1/ledger/accounts', {
      currency: 'CNY',
      kind: 'wallet',
      ownerId: from,
    });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    const id = opened.body.id as string;
    if (amount > 0) {
      const funded = await call('POST', '/v1/ledger/transfers', {
        requests: [
          { id: next('fund'), debitAccountId: from, creditAccountId: id, amount, currency: 'CNY' },
        ],
      });
      assert.equal((funded.body.data as { status: string }[])[0]?.status, 'posted');
    }
    return id;
  }

  async function balance(id: string): Promise<number> {
    const read = await call('GET', `/v1/ledger/accounts/${id}`, undefined, {
      'mainstay-read-consistency': 'primary',
    });
    assert.equal(read.status, 200, JSON.stringify(read.body));
    return read.body.balance as number;
  }

  test('P2P: the payment and its fee, a retry replayed, a reused key refused, bad input written nowhere', async () => {
    const payer = await wallet(10_000);
    const payee = await wallet(0);
    const body = { payerAccountId: payer, payeeAccountId: payee, amount: 2_500, currency: 'CNY' };
    const idempotencyKey = next('p2p');
    const paid = await write('/v1/payments/p2p', body, idempotencyKey);
    assert.equal(paid.status, 201, JSON.stringify(paid.body));
    assert.equal(paid.body.status, 'posted');
    assert.equal(paid.body.fee, P2P_FEE);
    assert.ok(paid.headers.get('mainstay-consistency-token'));
    const again = await write('/v1/payments/p2p', body, idempotencyKey);
    assert.equal(again.status, 201);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    const reused = await write('/v1/payments/p2p', { ...body, amount: 2_501 }, idempotencyKey);
    assert.equal(reused.status, 409);
    assert.equal(reused.body.code, 'idempotency_key_reused');
    const refused = await write('/v1/payments/p2p', { ...body, amount: 9_000 });
    assert.equal(refused.status, 201);
    assert.equal(refused.body.status, 'insufficient_funds');
    for (const [bad, code] of [
      [{ ...body, amount: 0 }, 'invalid_request'],
      [{ ...body, amount: -5 }, 'invalid_request'],
      [{ ...body, amount: 12.5 }, 'invalid_request'],
      [{ ...body, amount: 2 ** 53 }, 'invalid_request'],
      [{ ...body, amount: '100' }, 'invalid_request'],
      [{ ...body, currency: 'ABC' }, 'currency_unsupported'],
      [{ ...body, reference: 'a\u0000b' }, 'invalid_text'],
    ] as const) {
      const answer = await write('/v1/payments/p2p', bad);
      assert.equal(answer.body.code, code, JSON.stringify(bad));
      assert.match(answer.headers.get('content-type') ?? '', /application\/problem\+json/);
    }
    const notUtf8 = Buffer.concat([
      Buffer.from(
        `{"payerAccountId":"${payer}","payeeAccountId":"${payee}","amount":5,"currency":"CNY","reference":"`,
      ),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    const garbled = await write('/v1/payments/p2p', notUtf8, next('k'), {
      'content-type': 'application/json',
    });
    assert.equal(garbled.body.code, 'invalid_text');
    const keyless = await call('POST', '/v1/payments/p2p', body);
    assert.equal(keyless.body.code, 'idempotency_key_missing');
    assert.equal(await balance(payer), 10_000 - 2_500 - P2P_FEE);
    assert.equal(await balance(payee), 2_500);
  });

  test('QR: made, paid once, replayed, refused when altered or paid again', async () => {
    const merchant = await wallet(0, 1);
    const payer = await wallet(5_000, 1);
    const made = await write('/v1/payments/qr-codes', {
      merchantAccountId: merchant,
      amount: 1_000,
      currency: 'CNY',
      reference: 'table 7',
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const payload = made.body.payload as string;
    const idempotencyKey = next('qr');
    const paid = await write(
      '/v1/payments/qr-payments',
      { payerAccountId: payer, payload },
      idempotencyKey,
    );
    assert.equal(paid.status, 201, JSON.stringify(paid.body));
    assert.equal(paid.body.status, 'posted');
    assert.equal(paid.body.credited, 1_000 - (1_000 * QR_BASIS_POINTS) / 10_000);
    const again = await write(
      '/v1/payments/qr-payments',
      { payerAccountId: payer, payload },
      idempotencyKey,
    );
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    const twice = await write('/v1/payments/qr-payments', { payerAccountId: payer, payload });
    assert.equal(twice.status, 409);
    assert.equal(twice.body.code, 'qr_code_already_paid');
    const [prefix, body, mac] = payload.split('.') as [string, string, string];
    const fields = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    const altered = `${prefix}.${Buffer.from(JSON.stringify({ ...fields, a: '1' })).toString('base64url')}.${mac}`;
    const forged = await write('/v1/payments/qr-payments', {
      payerAccountId: payer,
      payload: altered,
    });
    assert.equal(forged.status, 422);
    assert.equal(forged.body.code, 'qr_payload_invalid');
    const read = await call('GET', `/v1/payments/qr-codes/${made.body.id}`);
    assert.equal(read.body.paid, true);
    assert.equal(await balance(payer), 4_000);
  });

  test('a batch file with bad lines completes; each line has its result, read by cursor', async () => {
    const payer = await wallet(100_000);
    const payees = [await wallet(0), await wallet(0, 1)];
    const lines: Buffer[] = [Buffer.from(`${BATCH_CSV_HEADER}\r\n`)];
    const expected: string[] = [];
    for (let n = 0; n < 60; n += 1) {
      const payee = payees[n % 2] as string;
      if (n === 7) lines.push(Buffer.from(`${payer},${payee},10,CNY,nul\u0000\r\n`));
      else if (n === 8)
        lines.push(
          Buffer.concat([
            Buffer.from(`${payer},${payee},10,CNY,`),
            Buffer.from([0xe2, 0x28, 0xa1, 0x0d, 0x0a]),
          ]),
        );
      else if (n === 9) lines.push(Buffer.from(`${payer},${payee},10.5,CNY,frac\r\n`));
      else if (n === 10) lines.push(Buffer.from(`${payer},${payee},-10,CNY,neg\r\n`));
      else lines.push(Buffer.from(`${payer},${payee},10,CNY,"line ${n + 2}, ok"\r\n`));
      expected.push(
        n === 7
          ? 'invalid_text'
          : n === 8
            ? 'invalid_utf8'
            : n === 9
              ? 'wrong_minor_unit'
              : n === 10
                ? 'bad_amount'
                : 'ok',
      );
    }
    const created = await write('/v1/payments/batches', Buffer.concat(lines), next('batch'), {
      'content-type': 'text/csv',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    let state = created.body.state;
    for (let round = 0; round < 100 && state !== 'completed'; round += 1) {
      await sleep(100);
      state = (await call('GET', `/v1/payments/batches/${id}`)).body.state;
    }
    const resumed = await write(`/v1/payments/batches/${id}/resume`, undefined);
    assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
    assert.equal(resumed.body.state, 'completed');
    const results: { line: number; status: string; reference: string | null }[] = [];
    let cursor: string | null = null;
    do {
      const page: Answer = await call(
        'GET',
        `/v1/payments/batches/${id}/items?limit=25${cursor ? `&startingAfter=${cursor}` : ''}`,
      );
      assert.equal(page.status, 200, JSON.stringify(page.body));
      results.push(...(page.body.data as typeof results));
      cursor = page.body.nextCursor as string | null;
    } while (cursor !== null);
    assert.deepEqual(
      results.map((row) => row.line),
      expected.map((_, n) => n + 2),
    );
    results.forEach((row, n) => {
      if (expected[n] === 'ok')
        assert.ok(['posted', 'pending'].includes(row.status), `line ${row.line}: ${row.status}`);
      else assert.equal(row.status, expected[n], `line ${row.line}`);
    });
    assert.equal(results[0]?.reference, 'line 2, ok');
    const wrongType = await write('/v1/payments/batches', 'a,b\n', next('batch'), {
      'content-type': 'text/plain',
    });
    assert.ok(wrongType.status >= 400 && wrongType.status < 500);
    const empty = await write('/v1/payments/batches', `${BATCH_CSV_HEADER}\n`, next('batch'), {
      'content-type': 'text/csv',
    });
    assert.equal(empty.body.code, 'payment_batch_file_invalid');
    const missing = await call('GET', '/v1/payments/batches/pbat_nope');
    assert.equal(missing.status, 404);
  });
});
