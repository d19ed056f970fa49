/**
 * The ops workflows (decision 54): atomic modules composed, each sensitive step behind a second
 * person. A drill checks the data before and after what it does, so "0 differences" is part of
 * the run's own verdict, not a separate report.
 */
import { type Static, Type } from '@sinclair/typebox';
import type { StepDefinition, WorkflowDefinition } from '../../../workflow/workflow-types.ts';
import { dcPairSchema } from './dc-switchover-steps.ts';
import { OPS_APPROVER_ROLES } from './ops-roles.ts';

type DcPair = { readonly from: string; readonly to: string };

const Checked = Type.Object(
  {
    shard: Type.Integer({ minimum: 0, maximum: 4095 }),
    table: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);

const DrillInput = Type.Object(
  { dc: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9-]+$' }), check: Checked },
  { additionalProperties: false },
);
type DrillInput = Static<typeof DrillInput>;

const BackupRunInput = Type.Object(
  {
    server: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9-]*$' }),
    name: Type.String({ minLength: 1, maxLength: 50, pattern: '^[a-z0-9][a-z0-9-]*$' }),
  },
  { additionalProperties: false },
);
type BackupRunInput = Static<typeof BackupRunInput>;

const at = <T>(input: unknown) => input as T;

function compareStep(name: string, expectEqual: boolean): StepDefinition {
  return {
    name,
    module: 'compare-table',
    input: (run) => ({ ...at<DrillInput>(run).check, against: 'copy', expectEqual }),
  };
}

export const OPS_WORKFLOWS: readonly WorkflowDefinition[] = [
  {
    name: 'compare-and-repair',
    summary:
      "Compares a table with the other DC's copy, repairs the copy once a second person approves, and compares again",
    inputSchema: Type.Object(
      {
        shard: Type.Integer({ minimum: 0, maximum: 4095 }),
        table: Type.String({ minLength: 1, maxLength: 200 }),
      },
      { additionalProperties: false },
    ),
    steps: [
      {
        name: 'compare',
        module: 'compare-table',
        input: (run) => ({ ...at<object>(run), against: 'copy' }),
      },
      {
        name: 'repair',
        module: 'repair-table',
        input: (run) => ({ ...at<object>(run), against: 'copy' }),
        approverRoles: OPS_APPROVER_ROLES,
      },
      {
        name: 'compare-again',
        module: 'compare-table',
        input: (run) => ({ ...at<object>(run), against: 'copy', expectEqual: true }),
      },
    ],
  },
  {
    name: 'failover-drill',
    summary:
      "Checks the fleet and a table, kills a data centre's primary once a second person approves, waits for the promotion and rebuild, and checks again",
    inputSchema: DrillInput,
    steps: [
      { name: 'check-fleet', module: 'check-fleet', input: () => ({}) },
      compareStep('compare-before', true),
      {
        name: 'failover',
        module: 'failover-drill',
        input: (run) => ({ dc: at<DrillInput>(run).dc }),
      },
      { name: 'check-fleet-after', module: 'check-fleet', input: () => ({}) },
      compareStep('compare-after', true),
    ],
  },
  {
    name: 'switchover',
    summary:
      "Checks the fleet and a table, hands a data centre's primary over to its replica once a second person approves, and checks again (run it again to switch back)",
    inputSchema: DrillInput,
    steps: [
      { name: 'check-fleet', module: 'check-fleet', input: () => ({}) },
      compareStep('compare-before', true),
      {
        name: 'switchover',
        module: 'switchover',
        input: (run) => ({ dc: at<DrillInput>(run).dc }),
      },
      { name: 'check-fleet-after', module: 'check-fleet', input: () => ({}) },
      compareStep('compare-after', true),
    ],
  },
  {
    name: 'dr-drill',
    summary:
      "Checks the fleet, compares every shard's tables with their copies, moves every shard homed in one data centre to the other once a second person approves, compares, switches back once approved again, and compares again",
    inputSchema: dcPairSchema(),
    steps: [
      { name: 'check-fleet', module: 'check-fleet', input: () => ({}) },
      { name: 'compare-before', module: 'compare-shards', input: () => ({ expectEqual: true }) },
      {
        name: 'dc-switchover',
        module: 'dc-switchover',
        input: (run) => ({ from: at<DcPair>(run).from, to: at<DcPair>(run).to }),
      },
      { name: 'compare-after', module: 'compare-shards', input: () => ({ expectEqual: true }) },
      {
        name: 'switch-back',
        module: 'dc-switchover',
        input: (run) => ({ from: at<DcPair>(run).to, to: at<DcPair>(run).from }),
      },
      { name: 'check-fleet-after', module: 'check-fleet', input: () => ({}) },
      {
        name: 'compare-after-switch-back',
        module: 'compare-shards',
        input: () => ({ expectEqual: true }),
      },
    ],
  },
  {
    name: 'backup-and-restore',
    summary:
      'Backs a server up, restores the backup to a new server, checks every table against the backup, and removes the restored server',
    inputSchema: BackupRunInput,
    steps: [
      { name: 'backup', module: 'backup', input: (run) => at<BackupRunInput>(run) },
      {
        name: 'restore',
        module: 'restore',
        input: (run) => ({
          backup: at<BackupRunInput>(run).name,
          name: `${at<BackupRunInput>(run).name}-restored`,
        }),
      },
      {
        name: 'remove-restored',
        module: 'remove-restored',
        input: (run) => ({ name: `${at<BackupRunInput>(run).name}-restored` }),
      },
    ],
  },
];
