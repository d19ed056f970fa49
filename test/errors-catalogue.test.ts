import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { test } from 'node:test';
import { ERROR_DOCS_PATH, renderErrorDocs } from '../scripts/gen-error-docs.ts';
import {
  ERROR_CATALOGUE,
  errorCodes,
  errorOwnerOf,
  errorSpecOf,
  registerErrorCodes,
} from '../src/errors/error-catalogue.ts';
import { MainstayError } from '../src/errors/mainstay-error.ts';
import { MODULES } from '../src/modules.ts';

const ERROR_CODES = errorCodes();

test('docs/reference/errors.md is what the generator writes', () => {
  const committed = readFileSync(ERROR_DOCS_PATH, 'utf8');
  assert.equal(
    committed,
    renderErrorDocs(),
    'docs/reference/errors.md is stale: run `node --import tsx scripts/gen-error-docs.ts`',
  );
});

test('every code appears in the errors reference exactly once', () => {
  const docs = renderErrorDocs();
  for (const code of ERROR_CODES) {
    assert.equal(docs.split(`| \`${code}\` |`).length - 1, 1, code);
  }
});

test('every code has a known 4xx or 5xx status', () => {
  for (const code of ERROR_CODES) {
    const { status } = errorSpecOf(code);
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`);
    assert.ok(STATUS_CODES[status] !== undefined, `${code}: ${status} is not a standard status`);
  }
});

test('every code is snake_case with a title and a line of docs', () => {
  for (const code of ERROR_CODES) {
    const { title, doc, definite } = errorSpecOf(code);
    assert.match(code, /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
    assert.ok(title.trim().length > 0, `${code} has no title`);
    assert.ok(doc.trim().length > 0, `${code} has no doc`);
    assert.equal(typeof definite, 'boolean');
  }
});

test('an indefinite code tells the client to retry with the same idempotency key', () => {
  // A 503 may be definite (nothing happened: retry freely) or not (it may have happened):
  // what matters is that the indefinite ones say how to retry safely.
  for (const code of ERROR_CODES) {
    const { definite, doc } = errorSpecOf(code);
    if (!definite) assert.match(doc, /same idempotency key/, code);
  }
  assert.equal(ERROR_CATALOGUE.primary_unavailable.definite, true);
  assert.equal(ERROR_CATALOGUE.write_outcome_unknown.definite, false);
});

test('a module owns its codes: registered as it loads, listed with its name, statuses kept', () => {
  assert.ok(MODULES.length > 0);
  assert.equal(errorOwnerOf('card_already_bound'), 'cards');
  assert.equal(errorOwnerOf('invalid_request'), 'platform');
  assert.equal(new MainstayError('card_already_bound', 'bound').status, 409);
  assert.ok(!('card_already_bound' in ERROR_CATALOGUE), 'the platform names no card code');
  // Registering again is harmless; a code someone else has is refused.
  registerErrorCodes('cards', { card_already_bound: errorSpecOf('card_already_bound') });
  assert.throws(() =>
    registerErrorCodes('ledger', { card_already_bound: ERROR_CATALOGUE.internal_error }),
  );
  assert.throws(() =>
    registerErrorCodes('ledger', { invalid_request: ERROR_CATALOGUE.internal_error }),
  );
});
