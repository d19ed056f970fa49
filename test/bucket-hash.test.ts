import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { bucketOf } from '../src/data/bucket-hash.ts';

/** The documented rule, computed independently: SHA-256, first four bytes big-endian, modulo. */
function documented(key: string, bucketCount: number): number {
  return createHash('sha256').update(key, 'utf8').digest().readUInt32BE(0) % bucketCount;
}

test('a key goes to the bucket the documented hash names, for any bucket count', () => {
  // A fixed vector, so a change of the rule (which would move every key) fails loudly.
  assert.equal(bucketOf('cus_42', 2 ** 32), 0x602014b9);
  assert.equal(bucketOf('cus_42', 1024), 0x602014b9 % 1024);
  for (const key of ['a', 'cus_42', 'Zürich', '名前', 'x'.repeat(512)]) {
    for (const count of [1, 7, 1024, 65_536])
      assert.equal(bucketOf(key, count), documented(key, count));
  }
});

test('answers stay the same past the bound of remembered keys (the memo is emptied, not wrong)', () => {
  const keys = Array.from({ length: 70_000 }, (_, n) => `key_${n}`);
  const first = keys.map((key) => bucketOf(key, 1024));
  const again = keys.map((key) => bucketOf(key, 1024));
  assert.deepEqual(again, first);
  for (let n = 0; n < keys.length; n += 997) {
    assert.equal(first[n], documented(keys[n] as string, 1024));
  }
});

test('a bucket count that is not a positive integer is refused', () => {
  for (const count of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => bucketOf('k', count), RangeError);
  }
});
