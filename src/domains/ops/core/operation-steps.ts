/**
 * The ops modules over the fleet's planned operations (decision 57): a switchover of a DC's
 * primary to its replica, a backup with the WAL to restore it, a restore to a new server checked
 * table by table against the backup's hashes, and the removal of a restored server. Each phase
 * maps onto the operation's own preflight, run, verification and undo.
 */
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import { takeBackup } from '../../../fleet/backup.ts';
import { verifyBackup } from '../../../fleet/backup-manifest.ts';
import { removeRestoredServer, restoreBackup } from '../../../fleet/restore.ts';
import { verifyRestore } from '../../../fleet/restore-verify.ts';
import {
  compensateSwitchover,
  readPending,
  type SwitchoverReport,
  switchover,
} from '../../../fleet/switchover.ts';
import { preflightSwitchover } from '../../../fleet/switchover-preflight.ts';
import type { FleetHost } from '../../../platform/domain-module.ts';
import type { StepModule } from '../../../workflow/workflow-types.ts';
import { OPS_APPROVER_ROLES } from './ops-roles.ts';

const NAME = { minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9-]*$' };

const DcInput = Type.Object({ dc: Type.String(NAME) }, { additionalProperties: false });
const BackupInput = Type.Object(
  {
    server: Type.String({ ...NAME, description: 'A primary, or the witness (the catalog).' }),
    name: Type.String({ ...NAME, description: 'The backup, kept under MAINSTAY_HOME/backups/.' }),
  },
  { additionalProperties: false },
);
const RestoreInput = Type.Object(
  {
    backup: Type.String({ ...NAME, description: 'A backup taken by the backup module.' }),
    name: Type.String({ ...NAME, description: 'The new server.' }),
  },
  { additionalProperties: false },
);
const RestoredName = Type.Object({ name: Type.String(NAME) }, { additionalProperties: false });

/** Where the backup `name` of this fleet lives. */
export function backupDirectory(host: FleetHost, name: string): string {
  return path.join(host.fleet.config.home, 'backups', name);
}

type SwitchoverOutput = Pick<
  SwitchoverReport,
  'dc' | 'from' | 'to' | 'resumed' | 'downtimeMs' | 'rejoin'
> & {
  readonly verified: boolean;
};

/** `switchover`: a DC's primary handed over to its replica with a brief write pause. */
export function switchoverModule(host: FleetHost): StepModule<{ dc: string }, SwitchoverOutput> {
  return {
    name: 'switchover',
    summary:
      "Hands a data centre's primary over to its streaming replica (a planned switchover: fence, clean stop, promote, rejoin, verify)",
    inputSchema: DcInput,
    attemptsMax: 2,
    approverRoles: OPS_APPROVER_ROLES,
    async preflight(input) {
      // A switchover a crash interrupted is continued by `execute`, whatever the preflight says.
      if (await readPending(host.fleet.catalog)) return;
      await preflightSwitchover(host.fleet, input);
    },
    async execute(input, context) {
      const report = await switchover(host.fleet, input);
      await context.log(
        `${report.from} handed over to ${report.to}: writes paused ${report.downtimeMs ?? 'unknown'} ms; ${report.from} rejoined (${report.rejoin})`,
      );
      const { dc, from, to, resumed, downtimeMs, rejoin } = report;
      return { dc, from, to, resumed, downtimeMs, rejoin, verified: report.verification.ok };
    },
    async verify(_input, output) {
      if (!output.verified)
        throw new MainstayError(
          'state_conflict',
          `the switchover of ${output.dc} did not verify; see its report`,
        );
    },
    async compensate() {
      await compensateSwitchover(host.fleet);
    },
  };
}

/** `backup`: a base backup of a primary (or the witness) with its WAL, verified file by file. */
export function backupModule(
  host: FleetHost,
): StepModule<
  { server: string; name: string },
  { directory: string; durationMs: number; restorePoint: unknown }
> {
  return {
    name: 'backup',
    summary:
      'Takes a physical base backup of a primary (or the witness) with the WAL to restore it and a manifest of file and table hashes',
    inputSchema: BackupInput,
    async execute(input, context) {
      const directory = backupDirectory(host, input.name);
      const taken = await takeBackup(host.fleet, { server: input.server, directory });
      await context.log(
        `backup of ${input.server} in ${taken.durationMs} ms${taken.existed ? ' (already taken)' : ''}`,
      );
      return { directory, durationMs: taken.durationMs, restorePoint: taken.manifest.restorePoint };
    },
    async verify(_input, output) {
      const checked = await verifyBackup(output.directory);
      if (!checked.ok) throw new MainstayError('backup_invalid', checked.problems.join('; '));
    },
  };
}

/** `restore`: a backup restored to a new server, every table checked against the backup's hashes. */
export function restoreModule(
  host: FleetHost,
): StepModule<
  { backup: string; name: string },
  { name: string; port: number; tablesCompared: number }
> {
  return {
    name: 'restore',
    summary:
      "Restores a backup to a new server beside the fleet and checks every table against the backup's hashes",
    inputSchema: RestoreInput,
    async preflight(input) {
      const checked = await verifyBackup(backupDirectory(host, input.backup));
      if (!checked.ok) throw new MainstayError('backup_invalid', checked.problems.join('; '));
    },
    async execute(input, context) {
      const directory = backupDirectory(host, input.backup);
      const restored = await restoreBackup(host.fleet, { directory, name: input.name });
      const manifest = (await verifyBackup(directory)).manifest;
      if (!manifest) throw new MainstayError('backup_invalid', `${input.backup} has no manifest`);
      const checked = await verifyRestore(restored, manifest);
      await context.log(
        `${input.name} restored on port ${restored.connection.port}: ${checked.tablesCompared} tables compared, ${checked.differences.length} different`,
      );
      if (!checked.ok)
        throw new MainstayError(
          'state_conflict',
          `the restored server differs from the backup: ${checked.problems.join('; ')}`,
        );
      return {
        name: input.name,
        port: restored.connection.port,
        tablesCompared: checked.tablesCompared,
      };
    },
    async compensate(input) {
      await removeRestoredServer(host.fleet, input.name);
    },
  };
}

/** `remove-restored`: stops a restored server and deletes its files. */
export function removeRestoredModule(
  host: FleetHost,
): StepModule<{ name: string }, { removed: boolean }> {
  return {
    name: 'remove-restored',
    summary: 'Stops a server made by a restore and deletes its files',
    inputSchema: RestoredName,
    async execute(input) {
      return { removed: await removeRestoredServer(host.fleet, input.name) };
    },
  };
}
