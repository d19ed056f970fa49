import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { ensureTraversable, postgresIdentity } from '../../src/fleet/os-user.ts';
import { pickFreePorts } from '../../src/fleet/ports.ts';
import { resolvePostgresBinaries } from '../../src/fleet/postgres-binaries.ts';
import { PostgresServer } from '../../src/fleet/postgres-server.ts';
import { reachablePostgresBinaries } from '../../src/fleet/reachable-binaries.ts';
import { initDataDir, SUPERUSER, writeSettings } from '../../src/fleet/server-files.ts';
import type { ConnectionInfo } from '../../src/postgres/connection-pools.ts';
import { removeHome, tempHome } from './temp-home.ts';

/** One real PostgreSQL server, for tests that need a database but not a whole fleet. */
export interface OneServer {
  readonly connection: ConnectionInfo & { readonly database: string };
  stop(): Promise<void>;
}

/**
 * Starts one PostgreSQL server in a temp home, the way the fleet starts each of its servers
 * (initdb, the settings file, `postgres` supervised directly), on a free port.
 */
export async function startOneServer(label: string): Promise<OneServer> {
  const home = tempHome(label);
  const identity = await postgresIdentity();
  ensureTraversable(home, identity);
  const { binaries } = await reachablePostgresBinaries(
    await resolvePostgresBinaries(null),
    identity,
    home,
  );
  const [port] = await pickFreePorts(1);
  if (port === undefined) throw new Error('no free port');
  const dataDir = path.join(home, 'server', 'data');
  const password = randomBytes(12).toString('hex');
  await initDataDir({ dataDir, password, binaries, identity });
  writeSettings(dataDir, {
    id: label,
    host: '127.0.0.1',
    port,
    synchronousCommit: 'on',
    synchronousStandby: null,
    synchronizedStandbySlot: null,
    upstream: null,
    extra: {},
  });
  const connection = { host: '127.0.0.1', port, user: SUPERUSER, password };
  const server = new PostgresServer({
    id: label,
    dataDir,
    logFile: path.join(home, 'server', 'postgres.log'),
    connection,
    binaries,
    identity,
  });
  try {
    await server.start();
  } catch (error) {
    removeHome(home);
    throw error;
  }
  return {
    connection: { ...connection, database: 'postgres' },
    async stop() {
      await server.stop();
      removeHome(home);
    },
  };
}
