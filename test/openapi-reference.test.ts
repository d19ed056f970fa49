import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { OPENAPI_PATH, renderOpenApi } from '../scripts/gen-openapi.ts';

test('docs/reference/openapi.json is what the code generates (run npm run openapi:write)', async () => {
  assert.equal(readFileSync(OPENAPI_PATH, 'utf8'), await renderOpenApi());
});
