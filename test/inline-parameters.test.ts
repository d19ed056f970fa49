import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inlineParameters } from '../src/data/inline-parameters.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';

test('values become quoted literals; quotes and backslashes are escaped', () => {
  assert.equal(
    inlineParameters('SELECT $1, $2, $3, $4', ["it's", 'a\\b', null, 42n]),
    `SELECT 'it''s',  E'a\\\\b', NULL, '42'`,
  );
  assert.equal(
    inlineParameters('SELECT $1::bytea', [Buffer.from('AB')]),
    `SELECT '\\x4142'::bytea`,
  );
  assert.equal(inlineParameters('SELECT $1', [[1, 2]]), `SELECT '{"1","2"}'`);
});

test('placeholders inside literals, identifiers, comments and dollar quotes are left alone', () => {
  const sql = `SELECT '$1', "$1", E'\\' $1', $$ $1 $$, $f$ $1 $f$ -- $1
  /* $1 /* $1 */ $1 */ $1`;
  const out = inlineParameters(sql, ['v']);
  assert.equal(out.split("'v'").length - 1, 1);
  assert.ok(out.endsWith(`*/ 'v'`));
});

test('a placeholder without a value, or $0, is refused', () => {
  for (const [sql, values] of [
    ['SELECT $2', ['a']],
    ['SELECT $0', ['a']],
  ] as const) {
    assert.throws(
      () => inlineParameters(sql, values),
      (error) => isMainstayError(error, 'invalid_request'),
    );
  }
});
