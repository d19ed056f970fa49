import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { pickFreePorts } from '../src/fleet/ports.ts';
import { mainstay, startUp, waitUntilUp } from './support/cli.ts';
import { postgresProcessesUnder, removeHome, tempHome } from './support/temp-home.ts';

const home = tempHome('cli');
const [httpPort = 0] = await pickFreePorts(1);
const env = { MAINSTAY_HOME: home, MAINSTAY_PORT: String(httpPort), MAINSTAY_CONFIG: '' };
delete (env as Record<string, string>).MAINSTAY_CONFIG;

describe('the mainstay command line', () => {
  after(async () => {
    mainstay(['down'], env);
    removeHome(home);
  });

  test('up serves /health 200; status shows it; a second up is refused; SIGTERM stops everything cleanly', async () => {
    const run = startUp(env);
    const url = await waitUntilUp(run);
    assert.equal(url, `http://127.0.0.1:${httpPort}`);
    assert.match(run.output(), /demo data loaded/);
    assert.equal((await fetch(`${url}/health`)).status, 200);

    const status = mainstay(['status', '--json'], env);
    assert.equal(status.status, 0, status.stderr);
    const report = JSON.parse(status.stdout) as {
      running: boolean;
      health: { ready: boolean };
      topology: { servers: unknown[] };
    };
    assert.equal(report.running, true);
    assert.equal(report.health.ready, true);
    assert.equal(report.topology.servers.length, 5);
    const table = mainstay(['status'], env);
    assert.match(table.stdout, /dc1-b\s+dc1\s+replica\s+up/);
    assert.match(table.stdout, /shard_3\s+dc2\s+dc1/);
    // The commands that call the platform send the home's demo key; the audit chains verify.
    const audit = mainstay(['audit', 'verify', '--json'], env);
    assert.equal(audit.status, 0, `${audit.stdout}${audit.stderr}`);
    assert.equal((JSON.parse(audit.stdout) as { intact: boolean }).intact, true);

    // The same environment, so the same MAINSTAY_PORT: the running fleet is named, not the port.
    const second = mainstay(['up'], env);
    assert.equal(second.status, 1);
    assert.match(second.stderr, /\[fleet_running\]/);
    assert.match(second.stderr, new RegExp(`serving ${url}`));

    assert.ok(postgresProcessesUnder(home).length >= 5);
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.output());
    assert.match(run.output(), /stopped cleanly/);
    assert.deepEqual(postgresProcessesUnder(home), []);
    assert.equal(mainstay(['status'], env).status, 3);
    assert.equal(mainstay(['audit', 'verify'], env).status, 3, 'not running');
  });

  test('a second start reuses the data; mainstay down stops it from another process', async () => {
    const run = startUp(env);
    const url = await waitUntilUp(run);
    assert.doesNotMatch(run.output(), /demo data loaded/);
    assert.equal((await fetch(`${url}/health`)).status, 200);
    const down = mainstay(['down'], env);
    assert.equal(down.status, 0, down.stderr);
    assert.equal(await run.exited, 0);
    assert.deepEqual(postgresProcessesUnder(home), []);
  });

  test('an HTTP port in use is named, and no server is started', async () => {
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(httpPort, '127.0.0.1', resolve));
    try {
      const result = mainstay(['up'], env);
      assert.equal(result.status, 1);
      assert.match(
        result.stderr,
        new RegExp(`\\[port_in_use\\]: port ${httpPort} .*MAINSTAY_PORT`),
      );
      assert.deepEqual(postgresProcessesUnder(home), []);
    } finally {
      squatter.close();
    }
  });

  test('an invalid config file is rejected with the file, the pointer and what was expected', () => {
    const file = path.join(home, 'bad.config.json');
    writeFileSync(
      file,
      JSON.stringify({ dataCentres: [{ id: 'dc1' }, { id: 'dc2', synchronousCommit: 'maybe' }] }),
    );
    const result = mainstay(['up'], { ...env, MAINSTAY_CONFIG: file });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /\[config_invalid\]/);
    assert.ok(result.stderr.includes(file));
    assert.match(
      result.stderr,
      /\/dataCentres\/1\/synchronousCommit: expected one of off, local, remote_write, on, remote_apply, async_may_lose_acked_writes, got "maybe"/,
    );
  });

  test('openapi prints the document; destroy needs --yes off a terminal, then deletes the home', () => {
    const openapi = mainstay(['openapi'], env);
    assert.equal(openapi.status, 0);
    assert.match((JSON.parse(openapi.stdout) as { openapi: string }).openapi, /^3\.1/);
    const refused = mainstay(['destroy'], env);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /--yes/);
    assert.ok(existsSync(home));
    const destroyed = mainstay(['destroy', '--yes'], env);
    assert.equal(destroyed.status, 0, destroyed.stderr);
    assert.equal(existsSync(home), false);
  });
});
