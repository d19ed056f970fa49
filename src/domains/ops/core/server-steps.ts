/**
 * The ops modules that change the fleet's size (decision 60): provisioning a spare server, adding
 * an asynchronous read replica to a data centre (from a spare, or one provisioned on the way),
 * and removing an added one. The configured servers are never removed.
 */
import { Type } from '@sinclair/typebox';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import { addReplica, checkAddedReplica, preflightAddReplica } from '../../../fleet/replica-add.ts';
import { preflightRemoveServer, removeServer } from '../../../fleet/replica-remove.ts';
import { preflightProvision, provisionServer } from '../../../fleet/server-provision.ts';
import type { FleetHost } from '../../../platform/domain-module.ts';
import type { StepModule } from '../../../workflow/workflow-types.ts';
import { OPS_APPROVER_ROLES } from './ops-roles.ts';

function nameSchema(description: string) {
  return Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9-]*$', description });
}

function dcInput() {
  return Type.Object(
    { dc: nameSchema('A data centre of the fleet.') },
    { additionalProperties: false },
  );
}

/** `provision-server`: a new started, checked server in a DC, kept as a spare (no traffic). */
export function provisionServerModule(
  host: FleetHost,
): StepModule<{ dc: string }, { server: string; port: number; version: string }> {
  return {
    name: 'provision-server',
    summary:
      "Provisions a new PostgreSQL server in a data centre with the fleet's settings, starts and checks it, and keeps it as a spare for add-replica",
    inputSchema: dcInput(),
    attemptsMax: 1,
    async preflight(input) {
      preflightProvision(host.fleet, input.dc);
    },
    async execute(input, context) {
      const made = await provisionServer(host.fleet, input.dc);
      await context.log(
        `${made.server} provisioned on port ${made.port} (PostgreSQL ${made.version})`,
      );
      return { server: made.server, port: made.port, version: made.version };
    },
  };
}

interface AddReplicaOutput {
  readonly server: string;
  readonly upstream: string;
  readonly epoch: number;
  readonly syncState: string | null;
}

/** `add-replica`: an asynchronous read replica added to a DC, streaming and serving reads. */
export function addReplicaModule(host: FleetHost): StepModule<{ dc: string }, AddReplicaOutput> {
  return {
    name: 'add-replica',
    summary:
      'Adds an asynchronous read replica to a data centre (a spare, or a server provisioned now), built from its primary, and waits until it streams and serves reads',
    inputSchema: dcInput(),
    attemptsMax: 2,
    approverRoles: OPS_APPROVER_ROLES,
    async preflight(input) {
      await preflightAddReplica(host.fleet, input.dc);
    },
    async execute(input, context) {
      const added = await addReplica(host.fleet, input.dc);
      await context.log(
        `${added.server} streams from ${added.upstream} (${added.syncState}) and serves reads from epoch ${added.epoch}`,
      );
      return {
        server: added.server,
        upstream: added.upstream,
        epoch: added.epoch,
        syncState: added.syncState,
      };
    },
    async verify(_input, output) {
      await checkAddedReplica(host.fleet, output.server, output.upstream);
    },
  };
}

/** `remove-replica`: an added replica (or spare) fenced, stopped, deleted and forgotten. */
export function removeReplicaModule(
  host: FleetHost,
): StepModule<{ server: string }, { server: string; kind: string }> {
  return {
    name: 'remove-replica',
    summary:
      'Removes a replica or spare added beyond the configuration: fenced from reads, stopped, its slot dropped, its data deleted',
    inputSchema: Type.Object(
      { server: nameSchema('A server added by add-replica or provision-server.') },
      { additionalProperties: false },
    ),
    approverRoles: OPS_APPROVER_ROLES,
    async preflight(input) {
      preflightRemoveServer(host.fleet, input.server);
    },
    async execute(input, context) {
      const removed = await removeServer(host.fleet, input.server);
      await context.log(
        `${removed.server} (${removed.kind}) removed${removed.slotDroppedOn ? `; its slot dropped on ${removed.slotDroppedOn}` : ''}`,
      );
      return { server: removed.server, kind: removed.kind };
    },
    async verify(input) {
      const listed = host.fleet.catalogSnapshot?.servers.some((s) => s.id === input.server);
      if (listed || host.fleet.added[input.server])
        throw new MainstayError('state_conflict', `${input.server} is still listed`);
    },
  };
}
