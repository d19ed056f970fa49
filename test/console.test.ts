/**
 * The console in a real browser against a real platform: one platform with demo data and one
 * Chromium for every page's tests. Each suite under `test/console/` opens its own browser
 * contexts, makes its own data and logs in as admins of its own (made through the API), so that
 * no suite's logins count toward another's limits; a suite whose tests each log in gets two new
 * admins for each test, so that no login waits for the next TOTP step. The suites run one after
 * another in this order; the two that change the fleet come last: operations (a planned
 * switchover of dc2) and then the overview (a killed primary of dc1).
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { cardsSuite } from './console/cards.ts';
import { ledgerSuite } from './console/ledger.ts';
import { operationsSuite } from './console/operations.ts';
import { overviewSuite } from './console/overview.ts';
import { shellSuite } from './console/shell.ts';
import { staffSuite } from './console/staff.ts';
import { type ConsoleFixture, startConsoleFixture, suiteAdmins } from './support/console.ts';

let fixture: ConsoleFixture | undefined;
let adminsFor: ((label: string) => Promise<ConsoleFixture['demo']['staff'][number][]>) | undefined;

before(async () => {
  fixture = await startConsoleFixture('console');
  adminsFor = suiteAdmins(fixture);
});

after(async () => {
  await fixture?.stop();
});

/**
 * The shared platform and browser, with two admins of the suite `label`'s own as its staff: new
 * ones on each call (`<label>-<n>-admin`, `-admin2`). A suite whose tests each log in asks once
 * per test, since one person's third login within a TOTP step waits up to 30 s for the next.
 */
function forSuite(label: string): () => Promise<ConsoleFixture> {
  let calls = 0;
  return async () => {
    assert.ok(fixture && adminsFor, 'the console platform started');
    calls += 1;
    const staff = await adminsFor(`${label}-${calls}`);
    return { ...fixture, demo: { ...fixture.demo, staff } };
  };
}

shellSuite(forSuite('shell'));
staffSuite(forSuite('staff'));
ledgerSuite(forSuite('ledger'));
cardsSuite(forSuite('cards'));
operationsSuite(forSuite('operations'));
overviewSuite(forSuite('overview'));
