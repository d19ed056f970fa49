/**
 * Writes `docs/reference/errors.md` from the error catalogue (the platform's codes and those of
 * every hosted module), so the reference clients read
 * is never out of step with the codes the server sends. `test/errors-catalogue.test.ts` fails
 * when the committed file differs from what this would write.
 *
 * Run: `node --import tsx scripts/gen-error-docs.ts`
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { errorCodes, errorOwnerOf, errorSpecOf } from '../src/errors/error-catalogue.ts';
// The hosted modules register their codes as they load: the reference lists them too.
import '../src/modules.ts';

/** Where the generated reference lives, from the repository root. */
export const ERROR_DOCS_PATH = fileURLToPath(
  new URL('../docs/reference/errors.md', import.meta.url),
);

/** The full text of `docs/reference/errors.md`, deterministic so the sync test can compare it. */
export function renderErrorDocs(): string {
  const rows = errorCodes().map((code) => {
    const { status, definite, title, doc } = errorSpecOf(code);
    return `| \`${code}\` | ${errorOwnerOf(code)} | ${status} | ${definite ? 'yes' : 'no'} | ${cell(title)} | ${cell(doc)} |`;
  });
  return [
    '# Error reference',
    '',
    "<!-- Generated from src/errors/error-catalogue.ts and the modules' errors.ts by scripts/gen-error-docs.ts. Do not edit. -->",
    '',
    'Every error Mainstay returns over HTTP is an RFC 9457 `application/problem+json` document:',
    '',
    '```json',
    '{',
    '  "type": "https://mainstay.dev/errors/invalid_request",',
    '  "title": "Invalid request",',
    '  "status": 400,',
    '  "detail": "body must have required property \'amount\'",',
    '  "code": "invalid_request",',
    '  "errors": [{ "pointer": "/amount", "detail": "is required" }]',
    '}',
    '```',
    '',
    '`code` is stable: switch on it, not on `title` or `detail`. `errors` holds one JSON pointer per',
    'invalid field and is empty otherwise. `429` and `503` responses carry `Retry-After`.',
    '',
    '**Definite** says whether the failed request certainly did not happen (`yes`) or may have',
    'happened (`no`): in that case retry with the same idempotency key. **Owner** is `platform`',
    'or the domain module that defines the code.',
    '',
    '| Code | Owner | HTTP status | Definite | Title | Description |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

/** Escapes what would break a Markdown table cell. */
function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  writeFileSync(ERROR_DOCS_PATH, renderErrorDocs());
  console.log(`wrote ${ERROR_DOCS_PATH}`);
}
