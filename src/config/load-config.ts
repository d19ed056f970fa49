import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { type FieldError, MainstayError } from '../errors/mainstay-error.ts';
import { type JobsSettings, jobsSettings } from '../jobs/jobs-config.ts';
import type { ServerRole } from '../topology/server-role.ts';
import {
  configFileSchema,
  DEFAULT_SYNCHRONOUS_COMMIT,
  type SectionSchema,
  type SynchronousCommit,
  type TopologyConfigFile,
  TopologyConfigSchema,
} from './topology-config.ts';

/** Connection details of a server Mainstay attaches to instead of running. */
export interface ExternalServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string | undefined;
}

/** One server of the topology, resolved from the config with its defaults. */
export interface ServerSpec {
  readonly id: string;
  readonly dc: string | null;
  /** The role the server is provisioned in; the catalog holds the current one. */
  readonly role: ServerRole;
  /** Port from the config, or `null` to pick a free one at first provision. */
  readonly port: number | null;
  readonly external: ExternalServer | null;
  /** For a replica: the server it streams from. */
  readonly upstream: string | null;
}

export interface DataCentreSpec {
  readonly id: string;
  readonly synchronousCommit: SynchronousCommit;
  readonly primary: ServerSpec;
  readonly replica: ServerSpec;
}

export interface ShardSpec {
  readonly id: number;
  readonly database: string;
  readonly homeDc: string;
  readonly copyDc: string;
  /** First and last bucket (inclusive) this shard holds in the initial shard map. */
  readonly buckets: readonly [number, number];
}

/** The whole platform configuration: file, environment and defaults merged and checked. */
export interface MainstayConfig {
  readonly home: string;
  readonly configFile: string | null;
  readonly postgres: {
    readonly source: 'embedded' | 'system' | 'external';
    readonly binDir: string | null;
    readonly settings: Readonly<Record<string, string>>;
  };
  readonly dataCentres: readonly [DataCentreSpec, DataCentreSpec];
  readonly witness: ServerSpec;
  readonly shards: readonly ShardSpec[];
  readonly bucketCount: number;
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** Whether `GET /metrics` answers without a credential (`http.metricsPublic`, default false). */
    readonly metricsPublic: boolean;
  };
  /** The background jobs' settings (`jobs` in the file), defaults applied. */
  readonly jobs: JobsSettings;
  /**
   * Each hosted module's section as the file gives it, by key, checked against the module's
   * schema (the module applies its defaults); absent when the file has none.
   */
  readonly sections: Readonly<Record<string, unknown>>;
}

export const DEFAULT_HTTP_PORT = 8080;
export const DEFAULT_SHARD_COUNT = 4;
export const DEFAULT_BUCKET_COUNT = 1024;
export const CONFIG_FILE_NAME = 'mainstay.config.json';

/** Environment variables Mainstay reads, with the working directory they resolve against. */
export interface ConfigEnvironment {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * Reads the topology config (from `MAINSTAY_CONFIG`, else `./mainstay.config.json` if present,
 * else defaults only), applies `MAINSTAY_HOME`, `MAINSTAY_PORT` and `MAINSTAY_PG_BIN`, and
 * checks it. Throws `config_invalid` naming the file, the JSON pointer and what was expected.
 */
export function loadConfig(
  environment: ConfigEnvironment = { cwd: process.cwd(), env: process.env },
  sections: readonly SectionSchema[] = [],
): MainstayConfig {
  const { cwd, env } = environment;
  const explicit = env.MAINSTAY_CONFIG;
  const candidate = path.resolve(cwd, explicit ?? CONFIG_FILE_NAME);
  let file: TopologyConfigFile = {};
  let configFile: string | null = null;
  if (explicit !== undefined || existsSync(candidate)) {
    configFile = candidate;
    file = parseConfigFile(candidate, sections);
  }
  const home = path.resolve(cwd, env.MAINSTAY_HOME ?? '.mainstay');
  return resolveConfig(file, { home, configFile, env, sections });
}

/** Parses and schema-checks one config file (with the sections of the hosted modules). */
export function parseConfigFile(
  file: string,
  sections: readonly SectionSchema[] = [],
): TopologyConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new MainstayError('config_invalid', `${file}: cannot be read`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MainstayError('config_invalid', `${file}: not valid JSON (${String(error)})`, {
      cause: error,
    });
  }
  return checkConfigFile(json, file, sections);
}

/** Checks a parsed config value against the schema; `source` names it in messages. */
export function checkConfigFile(
  json: unknown,
  source: string,
  sections: readonly SectionSchema[] = [],
): TopologyConfigFile {
  const errors: FieldError[] = [];
  const schema = sections.length === 0 ? TopologyConfigSchema : configFileSchema(sections);
  for (const error of Value.Errors(schema, json)) {
    errors.push({ pointer: error.path || '/', detail: describeSchemaError(error) });
    if (errors.length >= 20) break;
  }
  if (errors.length > 0) throw invalid(source, errors);
  return json as TopologyConfigFile;
}

function describeSchemaError(error: { message: string; schema: unknown; value: unknown }) {
  const schema = error.schema as { anyOf?: { const?: unknown }[] };
  const got = JSON.stringify(error.value);
  if (schema.anyOf?.every((option) => option.const !== undefined)) {
    const options = schema.anyOf.map((option) => String(option.const)).join(', ');
    return `expected one of ${options}, got ${got}`;
  }
  if (error.message === 'Unexpected property') return 'unknown property';
  return `${error.message.replace(/^Expected/, 'expected')}, got ${got ?? 'nothing'}`;
}

function invalid(source: string, errors: readonly FieldError[]): MainstayError {
  const lines = errors.map((error) => `  ${error.pointer}: ${error.detail}`).join('\n');
  return new MainstayError('config_invalid', `${source}: invalid configuration\n${lines}`, {
    errors,
  });
}

interface ResolveContext {
  readonly home: string;
  readonly configFile: string | null;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The module sections to pick out of the file. */
  readonly sections?: readonly SectionSchema[];
}

/** Applies defaults and the cross-field rules that a JSON schema cannot express. */
export function resolveConfig(file: TopologyConfigFile, context: ResolveContext): MainstayConfig {
  const source = context.configFile ?? 'configuration';
  const errors: FieldError[] = [];
  const binFromEnv = context.env.MAINSTAY_PG_BIN;
  const postgresSource = file.postgres?.source ?? (binFromEnv ? 'system' : 'embedded');
  const binDir = file.postgres?.binDir ?? binFromEnv ?? null;
  if (postgresSource === 'system' && binDir === null) {
    errors.push({
      pointer: '/postgres/binDir',
      detail: 'required when source is "system" (or set MAINSTAY_PG_BIN)',
    });
  }
  const [dc1, dc2] = file.dataCentres ?? [{ id: 'dc1' }, { id: 'dc2' }];
  const dcConfigs = [dc1 ?? { id: 'dc1' }, dc2 ?? { id: 'dc2' }] as const;
  if (dcConfigs[0].id === dcConfigs[1].id) {
    errors.push({
      pointer: '/dataCentres/1/id',
      detail: `duplicate data centre id "${dcConfigs[1].id}"`,
    });
  }
  const dataCentres = dcConfigs.map((dc) => {
    const primaryId = `${dc.id}-a`;
    return {
      id: dc.id,
      synchronousCommit: dc.synchronousCommit ?? DEFAULT_SYNCHRONOUS_COMMIT,
      primary: serverSpec(primaryId, dc.id, 'primary', dc.primary, null),
      replica: serverSpec(`${dc.id}-b`, dc.id, 'replica', dc.replica, primaryId),
    };
  }) as unknown as readonly [DataCentreSpec, DataCentreSpec];
  const witness = serverSpec('witness', null, 'witness', file.witness, null);
  const servers = [witness, ...dataCentres.flatMap((dc) => [dc.primary, dc.replica])];
  errors.push(...checkServers(servers, postgresSource, [dcConfigs[0].id, dcConfigs[1].id]));
  const envPort = context.env.MAINSTAY_PORT;
  const httpPort = envPort === undefined ? (file.http?.port ?? DEFAULT_HTTP_PORT) : Number(envPort);
  if (!Number.isInteger(httpPort) || httpPort < 0 || httpPort > 65535) {
    errors.push({
      pointer: '/http/port',
      detail: `MAINSTAY_PORT must be an integer 0-65535, got "${envPort}"`,
    });
  }
  const shardCount = file.shards?.count ?? DEFAULT_SHARD_COUNT;
  const bucketCount = file.shards?.bucketCount ?? DEFAULT_BUCKET_COUNT;
  if (bucketCount < shardCount) {
    errors.push({
      pointer: '/shards/bucketCount',
      detail: `must be at least shards.count (${shardCount})`,
    });
  }
  if (errors.length > 0) throw invalid(source, errors);
  const settings = Object.fromEntries(
    Object.entries(file.postgres?.settings ?? {}).map(([key, value]) => [key, String(value)]),
  );
  return {
    home: context.home,
    configFile: context.configFile,
    postgres: { source: postgresSource, binDir, settings },
    dataCentres,
    witness,
    shards: shardSpecs(shardCount, bucketCount, [dataCentres[0].id, dataCentres[1].id]),
    bucketCount,
    http: { ...httpSettings(file.http), port: httpPort },
    jobs: jobsSettings(file.jobs),
    sections: Object.fromEntries(
      (context.sections ?? []).flatMap((section) =>
        file[section.key] === undefined ? [] : [[section.key, file[section.key]]],
      ),
    ),
  };
}

function serverSpec(
  id: string,
  dc: string | null,
  role: ServerRole,
  config: { port?: number; external?: ExternalServer } | undefined,
  upstream: string | null,
): ServerSpec {
  return { id, dc, role, port: config?.port ?? null, external: config?.external ?? null, upstream };
}

function checkServers(
  servers: readonly ServerSpec[],
  source: string,
  dcIds: readonly string[],
): FieldError[] {
  const errors: FieldError[] = [];
  const seen = new Map<number, string>();
  for (const server of servers) {
    const pointer = serverPointer(server, dcIds);
    if (server.port !== null) {
      const other = seen.get(server.port);
      if (other)
        errors.push({
          pointer: `${pointer}/port`,
          detail: `port ${server.port} is also given to ${other}`,
        });
      seen.set(server.port, server.id);
    }
    if (source === 'external' && server.external === null) {
      errors.push({
        pointer: `${pointer}/external`,
        detail: 'required when postgres.source is "external"',
      });
    }
    if (source !== 'external' && server.external !== null) {
      errors.push({
        pointer: `${pointer}/external`,
        detail: 'only allowed when postgres.source is "external"',
      });
    }
  }
  return errors;
}

function serverPointer(server: ServerSpec, dcIds: readonly string[]): string {
  if (server.role === 'witness') return '/witness';
  return `/dataCentres/${dcIds.indexOf(server.dc ?? '')}/${server.role}`;
}

function shardSpecs(
  count: number,
  bucketCount: number,
  dcs: readonly [string, string],
): ShardSpec[] {
  return Array.from({ length: count }, (_, id) => {
    const first = Math.ceil((id * bucketCount) / count);
    const last = Math.ceil(((id + 1) * bucketCount) / count) - 1;
    const homeDc = dcs[id % 2] as string;
    const copyDc = dcs[(id + 1) % 2] as string;
    return { id, database: `shard_${id}`, homeDc, copyDc, buckets: [first, last] as const };
  });
}

/** The `http` section's defaults: loopback only, `/metrics` behind a credential. */
function httpSettings(http: { host?: string; metricsPublic?: boolean } | undefined) {
  return { host: http?.host ?? '127.0.0.1', metricsPublic: http?.metricsPublic ?? false };
}
