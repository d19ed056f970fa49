import assert from 'node:assert/strict';
import { hkdfSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ConsistencyToken } from '../src/data/consistency-token.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';
import { parseRing, serializeRing } from '../src/secrets/catalog-secrets.ts';
import {
  PURPOSE_LABELS,
  ROOT_SECRET_COUNT_MAX,
  RootSecretRing,
  rootSecretOf,
} from '../src/secrets/root-secret-ring.ts';
import { SECRET_PURPOSES } from '../src/secrets/secrets-port.ts';

/** A root secret in the form the catalog makes one: 32 random bytes as base64url text. */
function freshRootText(): string {
  return randomBytes(32).toString('base64url');
}

/** A ring as a fleet that never rotated has it: the original root, also the legacy token key. */
function unrotated(text: string): RootSecretRing {
  const root = rootSecretOf(text);
  return new RootSecretRing([root], root.id, root.secret);
}

test('each purpose gets its own 32-byte key, the same on every call, none equal to the root', () => {
  const text = freshRootText();
  const ring = unrotated(text);
  const keys = SECRET_PURPOSES.map((purpose) => ring.keysFor(purpose).current.key);
  for (const key of keys) assert.equal(key.length, 32);
  assert.equal(new Set(keys.map((key) => key.toString('hex'))).size, SECRET_PURPOSES.length);
  for (const key of keys) assert.ok(!key.equals(Buffer.from(text, 'utf8')));
  assert.deepEqual(
    SECRET_PURPOSES.map((purpose) => unrotated(text).keysFor(purpose).current.key),
    keys,
  );
  const labels = Object.values(PURPOSE_LABELS);
  assert.equal(new Set(labels).size, labels.length);
  const other = unrotated(freshRootText());
  for (const purpose of SECRET_PURPOSES) {
    assert.ok(!other.keysFor(purpose).current.key.equals(ring.keysFor(purpose).current.key));
  }
});

test("an existing fleet's card keys come out byte for byte as they were derived before the port", () => {
  // The derivation the card keys used since they were introduced, written out independently.
  const text = 'Jd0q2m1X5bK8Rk0nX1p9q3Vw7yZs4T6uH2aLc8eF0gI';
  const historic = (label: string) =>
    Buffer.from(hkdfSync('sha256', text, 'mainstay', `card-binding/${label}/v1`, 32));
  const ring = unrotated(text);
  assert.deepEqual(ring.keysFor('card-vault-encryption').current.key, historic('encryption'));
  assert.deepEqual(ring.keysFor('card-vault-lookup').current.key, historic('lookup'));
  // A fixed vector too, so that a change of salt, hash or label fails here loudly.
  assert.equal(
    ring.keysFor('card-vault-encryption').current.key.toString('hex'),
    '918f7559b979c3ae6aa2a77b4104e5945939c91c2a1f001e070fd50568ef2ec1',
  );
  assert.notDeepEqual(ring.keysFor('consistency-token').current.key, historic('encryption'));
});

test('tokens are signed with the derived key; one signed with the bare secret verifies only until a rotation', () => {
  const text = freshRootText();
  const ring = unrotated(text);
  const tokenKeys = ring.keysFor('consistency-token');
  const accepted = tokenKeys.accepted.map((key) => key.key);
  const token = new ConsistencyToken(4).with(1, 99n, 4);
  const signed = token.encode(tokenKeys.current.key);
  assert.equal(ConsistencyToken.decode(signed, accepted).positionFor(1), 99n);
  // The bare root secret no longer verifies what is signed now: the two purposes are apart.
  assert.throws(() => ConsistencyToken.decode(signed, text), isMainstayError);
  // A token a client got before the upgrade (signed with the bare secret) still verifies...
  const legacy = token.encode(text);
  assert.equal(ConsistencyToken.decode(legacy, accepted).positionFor(1), 99n);
  assert.deepEqual(
    tokenKeys.accepted.map((key) => key.keyId),
    [ring.current.id, 'legacy'],
  );
  // ...until the first rotation, which drops the bare secret from what is accepted.
  const rotated = ring.withRoot(rootSecretOf(freshRootText()));
  const afterRotation = rotated.keysFor('consistency-token').accepted.map((key) => key.key);
  assert.throws(() => ConsistencyToken.decode(legacy, afterRotation), isMainstayError);
  assert.equal(ConsistencyToken.decode(signed, afterRotation).positionFor(1), 99n);
  // A token signed by another fleet verifies with none of them.
  const foreign = token.encode(unrotated(freshRootText()).keysFor('consistency-token').current.key);
  assert.throws(() => ConsistencyToken.decode(foreign, afterRotation), isMainstayError);
});

test('a rotation adds a root, then makes it current, then retires the old one', () => {
  const first = rootSecretOf(freshRootText());
  const second = rootSecretOf(freshRootText());
  const start = new RootSecretRing([first], first.id, null);
  const before = start.keysFor('consistency-token').current;

  const added = start.withRoot(second);
  assert.equal(added.current.id, first.id, 'an added root is accepted, not yet used');
  const whileAdded = added.keysFor('consistency-token');
  assert.deepEqual(whileAdded.current, before);
  assert.deepEqual(
    whileAdded.accepted.map((key) => key.keyId),
    [first.id, second.id],
  );

  const promoted = added.withCurrent(second.id);
  const afterPromotion = promoted.keysFor('consistency-token');
  assert.equal(afterPromotion.current.keyId, second.id);
  assert.ok(!afterPromotion.current.key.equals(before.key));
  assert.deepEqual(afterPromotion.accepted[1], before, 'the old key is still accepted');

  const retired = promoted.without(first.id);
  assert.deepEqual(
    retired.keysFor('consistency-token').accepted.map((key) => key.keyId),
    [second.id],
  );
  assert.throws(() => retired.without(second.id), /current root secret cannot be retired/);
  assert.throws(() => retired.without('rk_0000000000000000'), /no root secret/);
  assert.throws(() => retired.withCurrent(first.id), /not in the ring/);
  assert.throws(() => promoted.withRoot(second), /in the ring twice/);
});

test(`a ring keeps at most ${ROOT_SECRET_COUNT_MAX} root secrets`, () => {
  const roots = Array.from({ length: ROOT_SECRET_COUNT_MAX }, () => rootSecretOf(freshRootText()));
  const [first] = roots;
  assert.ok(first);
  const full = new RootSecretRing(roots, first.id, null);
  assert.equal(full.keysFor('card-vault-lookup').accepted.length, ROOT_SECRET_COUNT_MAX);
  assert.throws(() => full.withRoot(rootSecretOf(freshRootText())), /at most/);
});

test('the stored ring reads back as written; anything else is refused with the flag named', () => {
  const first = rootSecretOf(freshRootText());
  const second = rootSecretOf(freshRootText());
  const ring = new RootSecretRing([first], first.id, null).withRoot(second).withCurrent(second.id);
  const again = parseRing(serializeRing(ring));
  assert.equal(again.current.id, second.id);
  for (const purpose of SECRET_PURPOSES)
    assert.deepEqual(again.keysFor(purpose), ring.keysFor(purpose));

  const refused = [
    'not json',
    '{}',
    JSON.stringify({ version: 2, current: first.id, roots: [] }),
    JSON.stringify({ version: 1, current: first.id, roots: 'x' }),
    JSON.stringify({ version: 1, current: 'rk_missing', roots: [freshRootText()] }),
    JSON.stringify({ version: 1, current: first.id, roots: [42] }),
    JSON.stringify({ version: 1, current: first.id, roots: ['too short'] }),
  ];
  for (const text of refused) {
    assert.throws(
      () => parseRing(text),
      (error: unknown) =>
        isMainstayError(error) &&
        error.code === 'config_invalid' &&
        error.message.includes('root_secret_ring'),
      text,
    );
  }
});
