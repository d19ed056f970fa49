/**
 * Customers on a real platform, over HTTP: register, confirm the phone with a code from the
 * development outbox, log in, verify the real name and a bank card, send a document, pass the
 * staff review, and only then bind a card to the customer's own payment user. Bad input (identity
 * numbers, codes, passwords, documents) answers its own code and writes nothing; registration and
 * login reveal no account; personal data is masked in answers and sealed in the database. Codes
 * sent, code checks and logins are limited per phone number from any address; logout ends the
 * session at once; the public calls are in the audit trail, the phone masked, no secret in it.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as OTPAuth from 'otpauth';
import { loadConfig } from '../../../src/config/load-config.ts';
import { taggedBucket } from '../../../src/data/entity-id.ts';
import {
  CODE_CHECKS_PER_PHONE,
  CODES_SENT_PER_PHONE,
  LOGINS_PER_PHONE,
} from '../../../src/domains/identity/customers/api/customer-routes.ts';
import type { DemoCredentials } from '../../../src/domains/identity/index.ts';
import { CONFIG_SECTIONS, MODULES } from '../../../src/modules.ts';
import { startPlatform } from '../../../src/platform/platform.ts';
import { fleetFromTemplate } from '../../support/platform-template.ts';
import { removeHome, tempHome } from '../../support/temp-home.ts';

const home = tempHome('customers');
let platform: Awaited<ReturnType<typeof startPlatform>>;
let demo: DemoCredentials;
let counter = 0;
let staffToken = '';

const PASSWORD = 'a long enough customer password';
const ID_NUMBER = '110101199003074573';
const CARD = '4111111111111111';
/** The smallest JPEG-looking content: the three leading bytes and a little more. */
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46]).toString(
  'base64',
);

type Answer = { status: number; body: Record<string, unknown> };

async function call(
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${platform.url}${route}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const key = () => ({ 'idempotency-key': `customers-${++counter}` });
const write = (token: string) => ({ ...bearer(token), ...key() });
const newPhone = () => `+86139${String(randomInt(0, 100_000_000)).padStart(8, '0')}`;

const register = (phone: string, password = PASSWORD) =>
  call('POST', '/v1/customers', { phone, password }, key());
const verify = (phone: string, code: string, headers = key()) =>
  call('POST', '/v1/customers/verify-phone', { phone, code }, headers);
const login = (phone: string, password = PASSWORD) =>
  call('POST', '/v1/customers/sessions', { phone, password });

/** A call sent as if from `address` (Fastify's inject sets the client address). */
async function callFrom(
  address: string,
  route: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer & { headers: Record<string, unknown> }> {
  const response = await platform.http.inject({
    method: 'POST',
    url: route,
    payload: body as Record<string, unknown>,
    headers,
    remoteAddress: address,
  });
  return { status: response.statusCode, body: response.json(), headers: response.headers };
}

type Entry = { actor: string; actorKind: string; action: string; outcome: number } & {
  detail: Record<string, string> | null;
};

/** The audit entries of `actor`, newest first (read with the demo key, which holds audit:read). */
async function entriesOf(actor: string): Promise<Entry[]> {
  const answer = await call(
    'GET',
    `/v1/audit/entries?actor=${encodeURIComponent(actor)}&limit=100`,
    undefined,
    bearer(demo.apiKey),
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.data as Entry[];
}

/** Asserts a 429 `rate_limited` problem whose Retry-After is the window's rest, not a second. */
function assertLimited(answer: Answer & { headers: Record<string, unknown> }, what: string) {
  assert.equal(answer.status, 429, `${what}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.code, 'rate_limited');
  assert.match(String(answer.headers['content-type']), /^application\/problem\+json/);
  const retryAfter = Number(answer.headers['retry-after']);
  assert.ok(retryAfter > 60 && retryAfter <= 15 * 60, `${what}: Retry-After ${retryAfter}`);
}

/** The messages the development outbox holds for `phone`, newest first. */
async function outbox(phone: string): Promise<string[]> {
  const answer = await call(
    'GET',
    `/v1/identity/outbox?phone=${encodeURIComponent(phone)}`,
    undefined,
    bearer(demo.apiKey),
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return (answer.body.data as { body: string }[]).map((message) => message.body);
}

async function latestCode(phone: string): Promise<string> {
  const [latest] = await outbox(phone);
  const code = /code is ([0-9]{6})/.exec(latest ?? '')?.[1];
  assert.ok(code, `no code in ${latest}`);
  return code;
}

/** A customer registered, confirmed and logged in: its id and session token. */
async function confirmedCustomer(
  phone = newPhone(),
  registerFirst = true,
): Promise<{ id: string; token: string; phone: string }> {
  if (registerFirst) assert.equal((await register(phone)).status, 202);
  const verified = await verify(phone, await latestCode(phone));
  assert.equal(verified.status, 200, JSON.stringify(verified.body));
  const session = await login(phone);
  assert.equal(session.status, 201, JSON.stringify(session.body));
  const customer = session.body.customer as { id: string };
  return { id: customer.id, token: session.body.token as string, phone };
}

/** The customer's row as stored. */
async function rowOf(customerId: string): Promise<Record<string, unknown>> {
  const { value } = await platform.router.read(
    customerId,
    (db) =>
      db.query('SELECT * FROM public.identity_customers WHERE customer_id = $1', [customerId]),
    { consistency: 'primary' },
  );
  return value.rows[0] as Record<string, unknown>;
}

async function documentCount(customerId: string): Promise<number> {
  const { value } = await platform.router.read(
    customerId,
    (db) =>
      db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM public.identity_customer_documents WHERE customer_id = $1',
        [customerId],
      ),
    { consistency: 'primary' },
  );
  return value.rows[0]?.n ?? -1;
}

const me = async (token: string) =>
  (await call('GET', '/v1/customers/me', undefined, bearer(token))).body;

/** Real name, bank card and a document: the customer waits in the review queue. */
async function readyForReview(token: string, idNumber: string): Promise<void> {
  const realName = await call(
    'POST',
    '/v1/customers/me/real-name',
    { fullName: '张三', idNumber, idType: 'cn_resident' },
    write(token),
  );
  assert.equal(realName.status, 200, JSON.stringify(realName.body));
  const card = await call('POST', '/v1/customers/me/bank-card', { cardNumber: CARD }, write(token));
  assert.equal(card.status, 200, JSON.stringify(card.body));
  const document = await call(
    'POST',
    '/v1/customers/me/documents',
    { kind: 'id_front', mediaType: 'image/jpeg', contentBase64: JPEG },
    write(token),
  );
  assert.equal(document.status, 201, JSON.stringify(document.body));
  const customer = document.body.customer as { review: { status: string } };
  assert.equal(customer.review.status, 'pending');
}

describe('customers: registration, KYC levels, review, card binding', () => {
  before(async () => {
    await fleetFromTemplate(home);
    const config = loadConfig(
      { cwd: home, env: { MAINSTAY_HOME: home, MAINSTAY_PORT: '0' } },
      CONFIG_SECTIONS,
    );
    platform = await startPlatform({ config, modules: MODULES });
    demo = JSON.parse(readFileSync(path.join(home, 'demo-credentials.json'), 'utf8'));
    const [admin] = demo.staff;
    assert.ok(admin);
    const totp = OTPAuth.URI.parse(admin.totpUri) as OTPAuth.TOTP;
    const session = await call('POST', '/v1/staff/sessions', {
      username: admin.username,
      password: admin.password,
      code: totp.generate(),
    });
    assert.equal(session.status, 201, JSON.stringify(session.body));
    staffToken = session.body.token as string;
  });

  after(async () => {
    await platform?.stop();
    removeHome(home);
  });

  test('the whole flow: only a reviewed level-3 customer binds a card, to its own payment user', async () => {
    const phone = newPhone();
    const registered = await register(phone);
    assert.equal(registered.status, 202);
    assert.equal(registered.body.phone, `${phone.slice(0, 6)}****${phone.slice(-4)}`);
    const { id, token } = await confirmedCustomer(phone, false);
    assert.match(id, /^cus_/);
    assert.equal((await me(token)).kycLevel, 1);
    // Someone else's payment user, and a card to bind.
    const other = await call('POST', '/v1/users', { fullName: 'Ana Silva' }, write(demo.apiKey));
    assert.equal(other.status, 201);
    const otherId = (other.body as { id: string }).id;
    const cardBody = { cardNumber: '5555555555554444', expiryMonth: 12, expiryYear: 2035 };
    const early = await call('POST', `/v1/users/${otherId}/cards`, cardBody, write(token));
    assert.equal(early.status, 403);
    assert.equal(early.body.code, 'kyc_level_insufficient');
    assert.match(early.body.detail as string, /level 3.*level 1/);

    await readyForReview(token, ID_NUMBER);
    const masked = await me(token);
    assert.equal(masked.kycLevel, 2);
    assert.deepEqual(masked.realName, {
      fullName: '张*',
      idType: 'cn_resident',
      idNumber: '1101**********4573',
    });
    assert.deepEqual(masked.bankCard, { number: '**** 1111' });
    const stillTwo = await call('POST', `/v1/users/${otherId}/cards`, cardBody, write(token));
    assert.equal(stillTwo.body.code, 'kyc_level_insufficient');

    const queue = await call(
      'GET',
      '/v1/kyc/reviews?status=pending',
      undefined,
      bearer(staffToken),
    );
    assert.equal(queue.status, 200);
    const queued = (queue.body.data as { id: string; phone: string; realName: unknown }[]).find(
      (customer) => customer.id === id,
    );
    assert.ok(queued, 'the customer waits in the review queue');
    assert.equal(queued.phone, masked.phone);
    assert.doesNotMatch(JSON.stringify(queue.body), new RegExp(ID_NUMBER));
    const byCustomer = await call('GET', '/v1/kyc/reviews', undefined, bearer(token));
    assert.equal(byCustomer.status, 403, 'a customer does not read the queue');
    // What was sent, for the reviewer: the document's kind, type and size, never its content.
    const sent = await call(
      'GET',
      `/v1/kyc/reviews/${id}/documents`,
      undefined,
      bearer(staffToken),
    );
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    const [document, ...more] = sent.body.data as Record<string, unknown>[];
    assert.equal(more.length, 0);
    assert.deepEqual(
      { kind: document?.kind, mediaType: document?.mediaType, sizeBytes: document?.sizeBytes },
      { kind: 'id_front', mediaType: 'image/jpeg', sizeBytes: 10 },
    );
    assert.ok(!JSON.stringify(sent.body).includes(JPEG), 'no content');
    const unknown = await call(
      'GET',
      `/v1/kyc/reviews/${id.slice(0, -1)}${id.endsWith('0') ? '1' : '0'}/documents`,
      undefined,
      bearer(staffToken),
    );
    assert.equal(unknown.status, 404);
    const ownDocuments = await call(
      'GET',
      `/v1/kyc/reviews/${id}/documents`,
      undefined,
      bearer(token),
    );
    assert.equal(ownDocuments.status, 403, 'a customer does not read the review');

    const approved = await call(
      'POST',
      `/v1/kyc/reviews/${id}/approve`,
      undefined,
      write(staffToken),
    );
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal(approved.body.kycLevel, 3);
    const paymentUserId = approved.body.paymentUserId as string;
    assert.match(paymentUserId, /^usr_/);

    // A new session carries level 3 at once (an open one within the session cache's seconds).
    const fresh = (await login(phone)).body.token as string;
    const bound = await call('POST', `/v1/users/${paymentUserId}/cards`, cardBody, write(fresh));
    assert.equal(bound.status, 201, JSON.stringify(bound.body));
    const listed = await call('GET', `/v1/users/${paymentUserId}/cards`, undefined, bearer(fresh));
    assert.equal(listed.status, 200);
    const foreign = await call('POST', `/v1/users/${otherId}/cards`, cardBody, write(fresh));
    assert.equal(foreign.status, 403);
    assert.equal(foreign.body.code, 'insufficient_scope');
    const create = await call('POST', '/v1/users', { fullName: 'Someone Else' }, write(fresh));
    assert.equal(create.status, 403, 'a customer creates no payment users');
  });

  test('personal data is sealed at rest: no column holds the phone, id number or card', async () => {
    const phone = newPhone();
    const { id, token } = await confirmedCustomer(phone);
    await readyForReview(token, '440304198506151237');
    const row = await rowOf(id);
    const stored = JSON.stringify(row, (_key, value) =>
      value?.type === 'Buffer' ? Buffer.from(value.data).toString('hex') : value,
    );
    for (const secret of ['440304198506151237', '198506151237', phone.slice(1), CARD, '张三'])
      assert.ok(!stored.includes(secret), `${secret} is readable in the row`);
    assert.match(row.id_number_sealed as string, /^v1\./);
    assert.equal(row.card_last4, '1111');
  });

  test('a rejection records its reason; a new document puts the customer back in the queue', async () => {
    const { id, token } = await confirmedCustomer();
    await readyForReview(token, '310115199211300884');
    const noReason = await call('POST', `/v1/kyc/reviews/${id}/reject`, {}, write(staffToken));
    assert.equal(noReason.status, 400);
    const rejected = await call(
      'POST',
      `/v1/kyc/reviews/${id}/reject`,
      { reason: 'The photo of the identity card is blurred.' },
      write(staffToken),
    );
    assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
    const seen = (await me(token)) as {
      kycLevel: number;
      review: { status: string; reason: string };
    };
    assert.equal(seen.kycLevel, 2);
    assert.equal(seen.review.status, 'rejected');
    assert.equal(seen.review.reason, 'The photo of the identity card is blurred.');
    const again = await call('POST', `/v1/kyc/reviews/${id}/approve`, undefined, write(staffToken));
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'kyc_state_conflict');
    const resent = await call(
      'POST',
      '/v1/customers/me/documents',
      { kind: 'id_front', mediaType: 'image/jpeg', contentBase64: JPEG },
      write(token),
    );
    assert.equal(resent.status, 201);
    assert.equal((resent.body.customer as { review: { status: string } }).review.status, 'pending');
  });

  test('identity numbers: bad ones in both formats refused, nothing written; one number, one customer', async () => {
    const { id, token } = await confirmedCustomer();
    const cases = [
      { idType: 'cn_resident', idNumber: '110101199003074578' }, // wrong check digit
      { idType: 'cn_resident', idNumber: '110101199002304571' }, // 30 February
      { idType: 'cn_resident', idNumber: '11010119900307457' }, // 17 characters
      { idType: 'generic', idNumber: 'AB12' }, // too short
      { idType: 'generic', idNumber: 'AB-12345' }, // not alphanumeric
    ];
    for (const { idType, idNumber } of cases) {
      const answer = await call(
        'POST',
        '/v1/customers/me/real-name',
        { fullName: 'Ana Silva', idNumber, idType },
        write(token),
      );
      assert.equal(answer.status, 422, `${idType} ${idNumber}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.code, 'id_number_invalid');
    }
    const row = await rowOf(id);
    assert.equal(row.kyc_level, 1);
    assert.equal(row.id_number_sealed, null);
    const generic = await call(
      'POST',
      '/v1/customers/me/real-name',
      { fullName: 'Ana Silva', idNumber: 'P1234567', idType: 'generic' },
      write(token),
    );
    assert.equal(generic.status, 200);
    assert.equal((generic.body.realName as { idNumber: string }).idNumber, 'P******7');
    const second = await confirmedCustomer();
    const taken = await call(
      'POST',
      '/v1/customers/me/real-name',
      { fullName: 'Bo Li', idNumber: 'p1234567', idType: 'generic' },
      write(second.token),
    );
    assert.equal(taken.status, 409);
    assert.equal(taken.body.code, 'id_number_in_use');
    assert.equal((await rowOf(second.id)).kyc_level, 1);
  });

  test('codes: replayed, expired, and void after five wrong tries; each with its code', async () => {
    const phone = newPhone();
    await register(phone);
    const code = await latestCode(phone);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const answer = await verify(phone, wrong);
      assert.equal(answer.status, 422);
      assert.equal(answer.body.code, 'phone_code_invalid');
    }
    const voided = await verify(phone, code);
    assert.equal(voided.body.code, 'phone_code_attempts_exceeded');
    // A new registration sends a new code, which works once.
    await register(phone);
    const second = await latestCode(phone);
    const headers = key();
    const verified = await verify(phone, second, headers);
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    const retried = await verify(phone, second, headers);
    assert.equal(retried.status, 200, 'a retry with the same key answers as before');
    const replayed = await verify(phone, second);
    assert.equal(replayed.status, 409);
    assert.equal(replayed.body.code, 'phone_code_used');
    // An expired code: registered, then its expiry moved into the past.
    const late = newPhone();
    await register(late);
    const lateCode = await latestCode(late);
    const customerId = await customerIdOfPhone(late);
    await platform.router.write(customerId, (tx) =>
      tx.query(
        `UPDATE public.identity_phone_codes SET expires_at = now() - interval '1 second'
         WHERE customer_id = $1`,
        [customerId],
      ),
    );
    const expired = await verify(late, lateCode);
    assert.equal(expired.status, 422);
    assert.equal(expired.body.code, 'phone_code_expired');
    assert.equal((await rowOf(customerId)).kyc_level, 0, 'nothing was confirmed');
    const unknown = await verify(newPhone(), '123456');
    assert.equal(unknown.body.code, 'phone_code_invalid');
  });

  test('no enumeration: registration answers alike; every login failure is login_failed', async () => {
    const { phone } = await confirmedCustomer();
    const fresh = newPhone();
    const known = await register(phone, 'another long password here');
    const unknown = await register(fresh, 'another long password here');
    assert.equal(known.status, 202);
    assert.deepEqual(Object.keys(known.body).sort(), Object.keys(unknown.body).sort());
    assert.equal(known.body.status, unknown.body.status);
    assert.equal(known.body.expiresInSeconds, unknown.body.expiresInSeconds);
    const [notice] = await outbox(phone);
    assert.match(notice ?? '', /already has one/);
    assert.doesNotMatch(notice ?? '', /[0-9]{6}/, 'the known account gets no code');
    const answers = [
      await login(newPhone()),
      await login(phone, 'a wrong password, long enough'),
      await login(fresh, 'another long password here'), // registered, phone not confirmed
    ];
    for (const answer of answers) {
      assert.equal(answer.status, 401);
      assert.equal(answer.body.code, 'login_failed');
      assert.equal(answer.body.detail, answers[0]?.body.detail);
    }
    // Four more failures lock the account: the right password fails too.
    for (let attempt = 0; attempt < 4; attempt += 1) await login(phone, 'still the wrong password');
    const locked = await login(phone);
    assert.equal(locked.body.code, 'login_failed');
  });

  test('passwords and documents out of bounds are refused before anything is written', async () => {
    const phone = newPhone();
    const short = await register(phone, 'short');
    assert.equal(short.status, 422);
    assert.equal(short.body.code, 'password_invalid');
    const long = await register(phone, 'x'.repeat(300));
    assert.equal(long.status, 400);
    assert.equal(long.body.code, 'invalid_request');
    assert.deepEqual(await outbox(phone), [], 'no message was sent');
    const badPhone = await register('0013812345678');
    assert.equal(badPhone.body.code, 'phone_invalid');
    const { id, token } = await confirmedCustomer();
    const big = Buffer.alloc(600 * 1024, 1);
    big.set([0xff, 0xd8, 0xff]);
    const oversized = await call(
      'POST',
      '/v1/customers/me/documents',
      { kind: 'selfie', mediaType: 'image/jpeg', contentBase64: big.toString('base64') },
      write(token),
    );
    assert.equal(oversized.status, 413);
    assert.equal(oversized.body.code, 'document_too_large');
    const notPdf = await call(
      'POST',
      '/v1/customers/me/documents',
      { kind: 'proof_of_address', mediaType: 'application/pdf', contentBase64: JPEG },
      write(token),
    );
    assert.equal(notPdf.status, 422);
    assert.equal(notPdf.body.code, 'document_invalid');
    assert.equal(await documentCount(id), 0);
    const card = await call(
      'POST',
      '/v1/customers/me/bank-card',
      { cardNumber: CARD },
      write(token),
    );
    assert.equal(card.status, 403, 'a card needs a verified real name first');
    assert.equal(card.body.code, 'kyc_level_insufficient');
    const staffAsCustomer = await call('GET', '/v1/customers/me', undefined, bearer(staffToken));
    assert.equal(staffAsCustomer.status, 403);
  });

  test('codes sent and checked per phone number are limited from any address; nothing more is sent', async () => {
    const phone = newPhone();
    for (let attempt = 1; attempt <= CODES_SENT_PER_PHONE; attempt += 1) {
      const answer = await callFrom(
        `203.0.113.${attempt}`,
        '/v1/customers',
        {
          phone,
          password: PASSWORD,
        },
        key(),
      );
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
    }
    const over = await callFrom(
      '203.0.113.99',
      '/v1/customers',
      { phone, password: PASSWORD },
      key(),
    );
    assertLimited(over, 'registration');
    assert.equal((await outbox(phone)).length, CODES_SENT_PER_PHONE, 'no code past the limit');
    assert.equal((await register(newPhone())).status, 202, 'another phone is not limited');
    // Code checks: wrong ones until the limit, then even the right code waits.
    const code = await latestCode(phone);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let attempt = 1; attempt <= CODE_CHECKS_PER_PHONE; attempt += 1) {
      const answer = await callFrom(
        `203.0.113.${100 + attempt}`,
        '/v1/customers/verify-phone',
        {
          phone,
          code: wrong,
        },
        key(),
      );
      assert.equal(answer.status, 422, JSON.stringify(answer.body));
    }
    const right = await callFrom(
      '203.0.113.199',
      '/v1/customers/verify-phone',
      { phone, code },
      key(),
    );
    assertLimited(right, 'code check');
    // The trail names the customer of each registration, masked; the 429s are not in it.
    const customerId = await customerIdOfPhone(phone);
    const registrations = (await entriesOf(customerId)).filter(
      (entry) => entry.action === 'POST /v1/customers',
    );
    assert.equal(registrations.length, CODES_SENT_PER_PHONE);
    assert.deepEqual(registrations[0]?.detail, { phone: masked(phone), sent: 'code' });
    const check = await entriesOf('anonymous@203.0.113.101');
    assert.equal(check[0]?.outcome, 422);
    assert.deepEqual(check[0]?.detail, { phone: masked(phone), account: customerId });
    assert.deepEqual(await entriesOf('anonymous@203.0.113.99'), []);
    assert.deepEqual(await entriesOf('anonymous@203.0.113.199'), []);
    // What an entry says of its request (not its ids, hashes and times, which are random text
    // where a six-digit code can turn up by chance).
    const all = JSON.stringify(
      [...registrations, ...check].map(({ actor, actorKind, action, outcome, ...rest }) => ({
        actor,
        actorKind,
        action,
        outcome,
        detail: (rest as { detail?: unknown }).detail,
        subject: (rest as { subject?: unknown }).subject,
      })),
    );
    for (const secret of [phone, phone.slice(1), code, wrong, PASSWORD])
      assert.ok(!all.includes(secret), `${secret} is in the trail`);
  });

  test('logins naming one phone are limited from any address, alike for known and unknown', async () => {
    const { phone } = await confirmedCustomer();
    const limited: Record<string, unknown>[] = [];
    // The known phone logged in once already (confirmedCustomer).
    for (const [n, target] of [phone, newPhone()].entries()) {
      const first = n === 0 ? 2 : 1;
      for (let attempt = first; attempt <= LOGINS_PER_PHONE; attempt += 1) {
        const answer = await callFrom(`192.0.2.${n * 50 + attempt}`, '/v1/customers/sessions', {
          phone: target,
          password: 'a wrong password, long enough',
        });
        assert.equal(answer.status, 401, `attempt ${attempt}: ${JSON.stringify(answer.body)}`);
        assert.equal(answer.body.code, 'login_failed');
      }
      const over = await callFrom(`192.0.2.${n * 50 + 49}`, '/v1/customers/sessions', {
        phone: target,
        password: PASSWORD,
      });
      assertLimited(over, `login ${n}`);
      limited.push({
        ...over.body,
        detail: String(over.body.detail).replace(/[0-9]+ seconds/, ''),
      });
    }
    assert.deepEqual(limited[0], limited[1], 'the same 429 for a known and an unknown phone');
  });

  test('logout ends the session at once; logins, failures and the logout are in the trail', async () => {
    const { id, token, phone } = await confirmedCustomer();
    const failed = await callFrom('192.0.2.200', '/v1/customers/sessions', {
      phone,
      password: 'a wrong password, long enough',
    });
    assert.equal(failed.status, 401);
    const second = (await login(phone)).body.token as string;
    const out = await call('DELETE', '/v1/customers/me/sessions/current', undefined, bearer(token));
    assert.equal(out.status, 204, JSON.stringify(out.body));
    const after = await call('GET', '/v1/customers/me', undefined, bearer(token));
    assert.equal(after.status, 401);
    assert.equal(after.body.code, 'invalid_token');
    assert.equal((await me(second)).id, id, 'another session of the customer goes on');
    const notCustomer = await call(
      'DELETE',
      '/v1/customers/me/sessions/current',
      undefined,
      bearer(staffToken),
    );
    assert.equal(notCustomer.status, 403, 'a staff session is not a customer session');
    // The trail: the registration, the confirmation and both logins under the customer.
    const own = await entriesOf(id);
    const actions = own.map((entry) => `${entry.action} ${entry.outcome}`).reverse();
    assert.deepEqual(actions, [
      'POST /v1/customers 202',
      'POST /v1/customers/verify-phone 200',
      'POST /v1/customers/sessions 201',
      'POST /v1/customers/sessions 201',
      'DELETE /v1/customers/me/sessions/current 204',
    ]);
    assert.ok(own.every((entry) => entry.actorKind === 'customer' && entry.actor === id));
    const logins = own.filter((entry) => entry.action === 'POST /v1/customers/sessions');
    assert.equal(logins[0]?.detail?.phone, masked(phone));
    assert.match(logins[0]?.detail?.session ?? '', /^ses_/);
    assert.equal(own[0]?.detail?.session, token.slice('mainstay_ss_'.length, -44));
    const [refused] = await entriesOf('anonymous@192.0.2.200');
    assert.equal(refused?.outcome, 401);
    assert.deepEqual(refused?.detail, {
      phone: masked(phone),
      account: id,
      reason: 'wrong_password',
    });
    const all = JSON.stringify([...own, refused]);
    for (const secret of [phone, phone.slice(1), PASSWORD, 'a wrong password', token.slice(-43)])
      assert.ok(!all.includes(secret), `${secret} is in the trail`);
  });
});

/** The customer id of a phone just registered: the newest customer of the phone's bucket. */
async function customerIdOfPhone(phone: string): Promise<string> {
  const bucket = platform.router.map.bucketOf(`customer:${phone}`);
  const { value } = await platform.router.readShard(
    platform.router.map.shardOf(`customer:${phone}`),
    (db) =>
      db.query<{ customer_id: string }>(
        'SELECT customer_id FROM public.identity_customers ORDER BY created_at DESC',
      ),
    { consistency: 'primary' },
  );
  const match = value.rows.find((row) => taggedBucket(row.customer_id) === bucket);
  assert.ok(match, `no customer for ${phone}`);
  return match.customer_id;
}

/** A phone as the trail and the answers show it: `+86139****1234`. */
function masked(phone: string): string {
  return `${phone.slice(0, phone.length - 8)}****${phone.slice(-4)}`;
}
