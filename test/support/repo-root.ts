/**
 * The repository's root, where the TypeScript sources are: `npm test` runs the compiled copy in
 * `.test-build/` (scripts/build-tests.ts), whose `package.json` is a link to the real one. The
 * same root the package build compiles.
 */
export { PACKAGE_ROOT as REPO_ROOT } from '../../scripts/build-package.ts';
