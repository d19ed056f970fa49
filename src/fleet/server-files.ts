import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { MainstayError } from '../errors/mainstay-error.ts';
import { giveTo, type OsIdentity } from './os-user.ts';
import { type PostgresBinaries, postgresEnv } from './postgres-binaries.ts';

const execFileAsync = promisify(execFile);

/** The superuser Mainstay creates in every server it provisions. */
export const SUPERUSER = 'mainstay';
/** File (in the data directory) holding Mainstay's settings, included by postgresql.conf. */
export const SETTINGS_FILE = 'mainstay.conf';

/**
 * Creates a data directory with initdb: SCRAM authentication for the Mainstay superuser,
 * UTF-8, data checksums (so that corruption is detected, as a bank expects), C collation.
 */
export async function initDataDir(options: {
  readonly dataDir: string;
  readonly password: string;
  readonly binaries: PostgresBinaries;
  readonly identity: OsIdentity;
}): Promise<void> {
  const { dataDir, password, binaries, identity } = options;
  const serverDir = path.dirname(dataDir);
  mkdirSync(serverDir, { recursive: true, mode: 0o700 });
  giveTo(serverDir, identity);
  const passwordFile = path.join(serverDir, 'initdb.pw');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  giveTo(passwordFile, identity);
  try {
    await execFileAsync(
      binaries.initdb,
      [
        '-D',
        dataDir,
        '-U',
        SUPERUSER,
        `--pwfile=${passwordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--data-checksums',
        '--no-instructions',
        // Skipping initdb's fsync is safe here: a fleet is marked provisioned only after every
        // step finished, an unfinished one is provisioned again from scratch, and PostgreSQL
        // fsyncs the whole data directory itself when it starts after a crash.
        '--no-sync',
      ],
      {
        env: postgresEnv(binaries.libDir),
        ...(identity.uid === null ? {} : { uid: identity.uid, gid: identity.gid ?? undefined }),
      },
    );
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    // initdb that could not even start (EACCES on a directory on the way) prints nothing.
    const reason = stderr.trim() || (error instanceof Error ? error.message : String(error));
    throw new MainstayError(
      'server_start_failed',
      `initdb failed for ${dataDir} (run as OS user ${identity.name}): ${reason}`,
      {
        cause: error,
      },
    );
  } finally {
    rmSync(passwordFile, { force: true });
  }
  appendFileSync(
    path.join(dataDir, 'postgresql.conf'),
    `\ninclude_if_exists = '${SETTINGS_FILE}'\n`,
  );
  writeFileSync(path.join(dataDir, 'pg_hba.conf'), HBA_RULES);
}

/** Local TCP only, SCRAM passwords, replication allowed for the superuser. */
const HBA_RULES = `# Written by Mainstay.
# TYPE  DATABASE     USER      ADDRESS        METHOD
host    all          all       127.0.0.1/32   scram-sha-256
host    all          all       ::1/128        scram-sha-256
host    replication  ${SUPERUSER}  127.0.0.1/32   scram-sha-256
host    replication  ${SUPERUSER}  ::1/128        scram-sha-256
`;

/** What goes into one server's settings file. */
export interface ServerSettings {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly synchronousCommit: string;
  /** Application name of the standby to wait for, when replication is synchronous. */
  readonly synchronousStandby: string | null;
  /**
   * Physical slot of the standby that logical walsenders wait for before sending changes, so
   * that a shard's logical copy never gets ahead of the standby that a failover would promote
   * (PostgreSQL 17 failover slots). `null` while that standby is down.
   */
  readonly synchronizedStandbySlot: string | null;
  /** For a replica: where it streams from. */
  readonly upstream: { readonly conninfo: string; readonly slot: string } | null;
  /** Operator overrides from the config file's `postgres.settings`. */
  readonly extra: Readonly<Record<string, string>>;
}

/**
 * Writes the settings file. Rewritten on every start, so a changed config takes effect; the data
 * directory's own postgresql.conf is left as initdb wrote it, apart from the include line.
 */
export function writeSettings(dataDir: string, settings: ServerSettings): void {
  const values: Record<string, string> = {
    cluster_name: settings.id,
    listen_addresses: settings.host,
    port: String(settings.port),
    unix_socket_directories: '',
    max_connections: '200',
    shared_buffers: '64MB',
    wal_level: 'logical',
    max_wal_senders: '16',
    max_replication_slots: '16',
    wal_keep_size: '256MB',
    // A replica or logical copy that stays down must not fill the primary's disk: past this
    // much retained WAL its slot is invalidated and the copy has to be rebuilt.
    max_slot_wal_keep_size: '4GB',
    hot_standby: 'on',
    hot_standby_feedback: 'on',
    wal_receiver_status_interval: '1s',
    // Apply workers and walreceivers retry this often after their upstream was not yet up, as
    // happens when every server starts at once; the default (5 s) would slow every restart.
    wal_retrieve_retry_interval: '250ms',
    max_logical_replication_workers: '8',
    max_worker_processes: '16',
    synchronous_commit: settings.synchronousCommit,
    synchronous_standby_names: settings.synchronousStandby
      ? `"${settings.synchronousStandby}"`
      : '',
    track_commit_timestamp: 'on',
    log_line_prefix: '%m [%p] %q%u@%d ',
    log_min_messages: 'warning',
    synchronized_standby_slots: settings.synchronizedStandbySlot ?? '',
    ...(settings.upstream
      ? {
          primary_conninfo: settings.upstream.conninfo,
          primary_slot_name: settings.upstream.slot,
          // Keep the primary's failover-enabled logical slots synchronised here, so that after
          // a promotion the shard copies in the other DC resume from this server.
          sync_replication_slots: 'on',
        }
      : {}),
    ...settings.extra,
  };
  const lines = Object.entries(values).map(([key, value]) => `${key} = ${quoteSetting(value)}`);
  writeFileSync(
    path.join(dataDir, SETTINGS_FILE),
    `# Written by Mainstay at every start; put overrides in the config file's postgres.settings.\n${lines.join('\n')}\n`,
  );
}

function quoteSetting(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/** A libpq connection string; values are quoted so paths with spaces survive. */
export function conninfo(fields: Readonly<Record<string, string | number>>): string {
  return Object.entries(fields)
    .map(
      ([key, value]) => `${key}='${String(value).replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`,
    )
    .join(' ');
}

/** Whether a data directory is set up as a standby (it has `standby.signal`). */
export function isStandbyDir(dataDir: string): boolean {
  return existsSync(path.join(dataDir, 'standby.signal'));
}

/** Where a supervised server's data directory is under a home. */
export function serverDataDir(home: string, serverId: string): string {
  return path.join(home, 'servers', serverId, 'data');
}

/** The libpq password file that replicas and subscriptions name instead of holding a password. */
export function passFilePath(home: string): string {
  return path.join(home, 'servers', 'pgpass');
}

/**
 * How one server reaches another (a replica its upstream, a copy its home): by the password
 * file for supervised servers, with the password itself for external ones.
 */
export function serverConninfo(
  target: {
    readonly host: string;
    readonly port: number;
    readonly user: string;
    readonly password: string;
  },
  access: { readonly external: boolean; readonly home: string },
  extra: Readonly<Record<string, string>>,
): string {
  const secret: Record<string, string> = access.external
    ? { password: target.password }
    : { passfile: passFilePath(access.home) };
  return conninfo({ host: target.host, port: target.port, user: target.user, ...secret, ...extra });
}
