/**
 * The ops modules that act on the servers: a fleet check, rebuilding a replica, and a failover
 * drill (a primary killed on purpose, the controller's promotion and rebuild waited for and
 * verified). Each checks before it acts and verifies after, and is safe to run again.
 */
import { Type } from '@sinclair/typebox';
import type { CatalogServer } from '../../../catalog/catalog-store.ts';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import type { TopologySnapshot } from '../../../fleet/topology-snapshot.ts';
import type { FleetHost } from '../../../platform/domain-module.ts';
import type { StepContext, StepModule } from '../../../workflow/workflow-types.ts';
import { OPS_APPROVER_ROLES } from './ops-roles.ts';

/** How long a drill waits for the controller to promote and rebuild. */
const FAILOVER_WAIT_MS = 120_000;
/** How long a rebuilt replica has to stream again. */
const STREAMING_WAIT_MS = 30_000;

const ServerInput = Type.Object(
  { server: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9-]+$' }) },
  { additionalProperties: false },
);
const DcInput = Type.Object(
  { dc: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9-]+$' }) },
  { additionalProperties: false },
);

/** What is wrong with the fleet now: servers not up, replicas not streaming, copies not replicating. */
export function fleetProblems(topology: TopologySnapshot): string[] {
  const problems: string[] = [];
  for (const server of topology.servers) {
    if (server.state !== 'up') problems.push(`${server.id} is ${server.state}`);
    else if (server.role === 'replica' && server.streamingState !== 'streaming')
      problems.push(`${server.id} is ${server.streamingState ?? 'not streaming'}`);
  }
  for (const shard of topology.shards) {
    if (shard.copyState !== 'replicating')
      problems.push(`shard ${shard.id}'s copy is ${shard.copyState}`);
  }
  return problems;
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  signal: AbortSignal,
  probe: () => Promise<T | null>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe().catch(() => null);
    if (found !== null) return found;
    if (signal.aborted) throw new Error(`stopped waiting for ${what}`);
    if (Date.now() > deadline)
      throw new MainstayError('service_unavailable', `${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** `check-fleet`: every server up, every replica streaming, every copy replicating. */
export function checkFleetModule(
  host: FleetHost,
): StepModule<Record<string, never>, { epoch: number | null; servers: number }> {
  return {
    name: 'check-fleet',
    summary: 'Checks that every server is up, every replica streams and every copy replicates',
    inputSchema: Type.Object({}, { additionalProperties: false }),
    async execute(_input, context) {
      const topology = await host.fleet.topology();
      const problems = fleetProblems(topology);
      if (problems.length > 0)
        throw new MainstayError(
          'service_unavailable',
          `the fleet is not healthy: ${problems.join('; ')}`,
        );
      await context.log(`${topology.servers.length} servers up at epoch ${topology.epoch}`);
      return { epoch: topology.epoch, servers: topology.servers.length };
    },
  };
}

async function serverOf(host: FleetHost, id: string): Promise<CatalogServer> {
  const catalog = await host.fleet.refreshCatalog();
  const server = catalog?.servers.find((candidate) => candidate.id === id);
  if (!server) throw new MainstayError('resource_not_found', `no server ${id} in the catalog`);
  return server;
}

async function streamingFrom(host: FleetHost, replica: CatalogServer): Promise<boolean> {
  if (!replica.upstream) return false;
  const { rows } = await host.fleet.pools
    .pool(replica.upstream)
    .query<{ state: string }>('SELECT state FROM pg_stat_replication WHERE application_name = $1', [
      replica.id,
    ]);
  return rows[0]?.state === 'streaming';
}

/** `rebuild-replica`: a replica's data directory copied afresh from its primary, streaming again. */
export function rebuildReplicaModule(
  host: FleetHost,
): StepModule<{ server: string }, { server: string; upstream: string | null }> {
  return {
    name: 'rebuild-replica',
    summary:
      "Rebuilds a streaming replica from its primary's current data (the backup API) and waits until it streams",
    inputSchema: ServerInput,
    attemptsMax: 3,
    async preflight(input) {
      const server = await serverOf(host, input.server);
      if (server.role !== 'replica')
        throw new MainstayError(
          'preflight_refused',
          `${input.server} is a ${server.role}, not a replica`,
        );
    },
    async execute(input, context) {
      await context.log(`rebuilding ${input.server} from its primary`);
      await host.fleet.rebuildReplica(input.server);
      const server = await serverOf(host, input.server);
      return { server: server.id, upstream: server.upstream };
    },
    async verify(input, _output, context) {
      const server = await serverOf(host, input.server);
      await waitFor(`${input.server} streaming`, STREAMING_WAIT_MS, context.signal, async () =>
        (await streamingFrom(host, server)) ? true : null,
      );
    },
  };
}

interface DrillOutput {
  readonly dc: string;
  readonly oldPrimary: string;
  readonly newPrimary: string;
  /** From the kill to the catalog naming the new primary. */
  readonly promotedMs: number;
}

function primaryIn(servers: readonly CatalogServer[], dc: string) {
  return servers.find((s) => s.dc === dc && s.role === 'primary' && s.fencedAtEpoch === null);
}

/**
 * `failover-drill`: kills a DC's primary (SIGKILL, as a crash would) and waits until the failover
 * controller has promoted its replica and rebuilt the old primary as the new one's replica.
 */
export function failoverDrillModule(host: FleetHost): StepModule<{ dc: string }, DrillOutput> {
  return {
    name: 'failover-drill',
    summary:
      "Kills a data centre's primary and waits for the controller to promote its replica and rebuild the old primary",
    inputSchema: DcInput,
    attemptsMax: 1,
    approverRoles: OPS_APPROVER_ROLES,
    async preflight(input) {
      if (!host.controller)
        throw new MainstayError(
          'preflight_refused',
          'the failover controller is not running in this process',
        );
      const catalog = await host.fleet.refreshCatalog();
      const primary = primaryIn(catalog?.servers ?? [], input.dc);
      if (!primary) throw new MainstayError('preflight_refused', `${input.dc} has no primary`);
      const replica = catalog?.servers.find(
        (s) => s.upstream === primary.id && s.fencedAtEpoch === null,
      );
      if (!replica || !(await streamingFrom(host, replica)))
        throw new MainstayError(
          'preflight_refused',
          `${primary.id} has no streaming replica to promote`,
        );
    },
    async execute(input, context) {
      const before = primaryIn((await host.fleet.refreshCatalog())?.servers ?? [], input.dc);
      if (!before) throw new MainstayError('preflight_refused', `${input.dc} has no primary`);
      const killedAt = Date.now();
      await context.log(`killing ${before.id} (SIGKILL)`);
      await host.fleet.kill(before.id);
      const promoted = await waitFor(
        `a new primary in ${input.dc}`,
        FAILOVER_WAIT_MS,
        context.signal,
        async () => {
          const now = primaryIn((await host.fleet.catalog.load())?.servers ?? [], input.dc);
          return now && now.id !== before.id ? now : null;
        },
      );
      const promotedMs = Date.now() - killedAt;
      await context.log(
        `${promoted.id} promoted ${promotedMs} ms after the kill; waiting for ${before.id} to be rebuilt`,
      );
      return { dc: input.dc, oldPrimary: before.id, newPrimary: promoted.id, promotedMs };
    },
    async verify(_input, output, context) {
      await rebuiltAndStreaming(host, output.oldPrimary, context);
      const { rows } = await host.fleet.pools
        .pool(output.newPrimary)
        .query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
      if (rows[0]?.recovery !== false)
        throw new MainstayError('state_conflict', `${output.newPrimary} is still in recovery`);
    },
  };
}

async function rebuiltAndStreaming(host: FleetHost, id: string, context: StepContext) {
  await waitFor(`${id} rebuilt and streaming`, FAILOVER_WAIT_MS, context.signal, async () => {
    const server = await serverOf(host, id);
    return server.role === 'replica' &&
      server.fencedAtEpoch === null &&
      (await streamingFrom(host, server))
      ? true
      : null;
  });
}
