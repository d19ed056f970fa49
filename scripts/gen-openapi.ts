/**
 * Writes `docs/reference/openapi.json`, the API reference generated from the same schemas the
 * server validates with. `test/openapi-reference.test.ts` fails when the committed file differs.
 *
 * Run: `npm run openapi:write`
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openApiDocument } from '../src/cli/commands/openapi.ts';

export const OPENAPI_PATH = fileURLToPath(
  new URL('../docs/reference/openapi.json', import.meta.url),
);

/** The committed form of the document: pretty-printed, with a final newline. */
export async function renderOpenApi(): Promise<string> {
  return `${JSON.stringify(await openApiDocument(), null, 2)}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  writeFileSync(OPENAPI_PATH, await renderOpenApi());
  process.stdout.write(`wrote ${OPENAPI_PATH}\n`);
}
