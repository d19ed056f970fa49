#!/usr/bin/env node
// Entry for `npx mainstay` and `npm start`: loads the TypeScript CLI through tsx, so the
// checkout runs without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
