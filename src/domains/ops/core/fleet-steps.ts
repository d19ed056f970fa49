/**
 * The ops modules that act on the servers: a fleet check, rebuilding a replica, and a failover
 * drill (a primary killed on purpose, the controller's promotion and rebuild waited for and
 * verified). Each checks before it acts and verifies after, and is safe to run again.
 */
import { Type } from '@sinclair/typebox';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import { failoverDrill } from '../../../fleet/failover-drill.ts';
import {
  preflightReplicaRebuild,
  rebuildReplicaOperation,
} from '../../../fleet/replica-operation.ts';
import { healthFromTopology } from '../../../fleet/topology-probe.ts';
import type { FleetHost } from '../../../platform/domain-module.ts';
import type { StepModule } from '../../../workflow/workflow-types.ts';
import { OPS_APPROVER_ROLES } from './ops-roles.ts';

const ServerInput = Type.Object(
  { server: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9-]+$' }) },
  { additionalProperties: false },
);
const DcInput = Type.Object(
  { dc: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9-]+$' }) },
  { additionalProperties: false },
);

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
      const problems = healthFromTopology(topology)
        .components.filter((component) => !component.ready)
        .map((component) => `${component.name}: ${component.detail ?? 'not ready'}`);
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

/** `rebuild-replica`: a replica copied afresh from its primary, streaming (and synchronous) again. */
export function rebuildReplicaModule(
  host: FleetHost,
): StepModule<{ server: string }, { server: string; upstream: string; state: string | null }> {
  return {
    name: 'rebuild-replica',
    summary:
      "Rebuilds a streaming replica from its primary's current data (the backup API) and waits until it streams",
    inputSchema: ServerInput,
    attemptsMax: 3,
    async preflight(input) {
      await preflightReplicaRebuild(host.fleet, input.server);
    },
    async execute(input, context) {
      const { plan, verification } = await rebuildReplicaOperation(host.fleet, input.server);
      await context.log(
        `${plan.server} rebuilt from ${plan.upstream}: ${verification.state ?? 'unknown'}`,
      );
      if (!verification.ok)
        throw new MainstayError(
          'state_conflict',
          `${plan.server} rebuilt but not streaming: ${verification.problems.join('; ')}`,
        );
      return { server: plan.server, upstream: plan.upstream, state: verification.state };
    },
  };
}

interface DrillOutput {
  readonly dc: string;
  readonly killed: string;
  readonly promoted: string;
  /** From the kill to the controller's promotion, and to the old primary streaming again. */
  readonly promotedAfterMs: number;
  readonly rebuiltAfterMs: number;
  readonly verified: boolean;
}

/**
 * `failover-drill`: kills a DC's primary (SIGKILL, as a crash would) and waits until the failover
 * controller has promoted its replica and rebuilt the old primary; then verifies the DC as after
 * a switchover. One attempt only: a drill that kills a server must never act twice.
 */
export function failoverDrillModule(host: FleetHost): StepModule<{ dc: string }, DrillOutput> {
  return {
    name: 'failover-drill',
    summary:
      "Kills a data centre's primary and waits for the controller to promote its replica and rebuild the old primary",
    inputSchema: DcInput,
    attemptsMax: 1,
    approverRoles: OPS_APPROVER_ROLES,
    async preflight() {
      if (!host.controller)
        throw new MainstayError(
          'preflight_refused',
          'the failover controller is not running in this process',
        );
    },
    async execute(input, context) {
      const controller = host.controller;
      if (!controller)
        throw new MainstayError(
          'preflight_refused',
          'the failover controller is not running in this process',
        );
      const report = await failoverDrill(host.fleet, controller, input);
      await context.log(
        `${report.killed} killed; ${report.promoted} promoted after ${Math.round(report.promotedAfterMs)} ms; ${report.killed} streaming again after ${Math.round(report.rebuiltAfterMs)} ms`,
      );
      const { dc, killed, promoted, promotedAfterMs, rebuiltAfterMs } = report;
      return {
        dc,
        killed,
        promoted,
        promotedAfterMs,
        rebuiltAfterMs,
        verified: report.verification.ok,
      };
    },
    async verify(_input, output) {
      if (!output.verified)
        throw new MainstayError('state_conflict', `${output.dc} did not verify after the drill`);
    },
  };
}
