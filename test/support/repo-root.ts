import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository's root, where the TypeScript sources are: `npm test` runs the compiled copy in
 * `.test-build/` (scripts/build-tests.ts), whose `package.json` is a link to the real one.
 */
export const REPO_ROOT = path.dirname(
  realpathSync(fileURLToPath(new URL('../../package.json', import.meta.url))),
);
