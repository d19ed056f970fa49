#!/usr/bin/env node
// Entry for `npx mainstay` and `npm start`. In a checkout it loads the TypeScript CLI through
// tsx, so the checkout runs without a build step; in the suite's compiled copy of the checkout
// (`.test-build/`, scripts/build-tests.ts) it loads the compiled CLI beside it; an installed
// package has no src/ and runs the CLI that `npm run build` compiled into dist/.
import { existsSync } from 'node:fs';

if (existsSync(new URL('../src/cli/main.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
} else if (existsSync(new URL('../src/cli/main.js', import.meta.url))) {
  await import('../src/cli/main.js');
} else {
  await import('../dist/cli/main.js');
}
