/**
 * The ops modules of a DR drill (decision 59): a planned switchover of every shard homed in one
 * data centre to its copy in the other (and, run the other way, the switch back), and a
 * comparison of every table of every shard with its copy.
 */
import { type Static, Type } from '@sinclair/typebox';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import {
  compensateDcSwitchover,
  type DcSwitchoverReport,
  dcSwitchover,
  readPendingDc,
} from '../../../fleet/dc-switchover.ts';
import { preflightDcSwitchover } from '../../../fleet/dc-switchover-preflight.ts';
import { compareShardCopy, type TableCheck } from '../../../fleet/dc-switchover-verify.ts';
import type { Fleet } from '../../../fleet/fleet.ts';
import type { FleetHost } from '../../../platform/domain-module.ts';
import type { StepModule } from '../../../workflow/workflow-types.ts';
import { OPS_APPROVER_ROLES } from './ops-roles.ts';

const DC_ID = { minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9-]*$' };

/** The input of a data-centre switchover: which DC's shards move to which. */
export function dcPairSchema() {
  return Type.Object(
    {
      from: Type.String({ ...DC_ID, description: 'The data centre whose shards move away.' }),
      to: Type.String({ ...DC_ID, description: 'The data centre holding their copies.' }),
    },
    { additionalProperties: false },
  );
}
const DcPair = dcPairSchema();
type DcPair = Static<typeof DcPair>;

/** The report without its phases and per-table detail: the verdict and its problems. */
type DcSwitchoverOutput = Pick<
  DcSwitchoverReport,
  'from' | 'to' | 'shards' | 'resumed' | 'epoch' | 'downtimeMs'
> & {
  readonly verified: boolean;
  readonly problems: readonly string[];
};

/** `dc-switchover`: every shard homed in `from` moved home to its copy in `to`. */
export function dcSwitchoverModule(host: FleetHost): StepModule<DcPair, DcSwitchoverOutput> {
  return {
    name: 'dc-switchover',
    summary:
      'Moves every shard homed in one data centre to its copy in the other (fence, catch up, swap home and copy without a re-copy, verify); run it the other way to switch back',
    inputSchema: DcPair,
    attemptsMax: 2,
    approverRoles: OPS_APPROVER_ROLES,
    async preflight(input) {
      // A switchover a crash interrupted is continued by `execute`, whatever the preflight says.
      if (await readPendingDc(host.fleet.catalog)) return;
      await preflightDcSwitchover(host.fleet, input);
    },
    async execute(input, context) {
      const report = await dcSwitchover(host.fleet, input);
      await context.log(
        `shards ${report.shards.join(', ')} moved home from ${report.from} to ${report.to}: writes paused ${report.downtimeMs ?? 'unknown'} ms`,
      );
      const { from, to, shards, resumed, epoch, downtimeMs } = report;
      const { ok, problems } = report.verification;
      return { from, to, shards, resumed, epoch, downtimeMs, verified: ok, problems };
    },
    async verify(_input, output) {
      if (!output.verified)
        throw new MainstayError(
          'state_conflict',
          `the switchover of ${output.from} to ${output.to} did not verify: ${output.problems.join('; ')}`,
        );
    },
    async compensate() {
      // Undoes a switchover stopped before its catalog change; a committed one is undone by
      // switching back.
      await compensateDcSwitchover(host.fleet);
    },
  };
}

const ShardsInput = Type.Object(
  { expectEqual: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);

interface ShardsOutput {
  readonly shards: readonly { readonly id: number; readonly tables: readonly TableCheck[] }[];
  readonly tablesCompared: number;
  readonly differences: number;
  readonly unkeyed: readonly string[];
}

/** `compare-shards`: every table of every shard compared between its home and its copy. */
export function compareShardsModule(
  fleet: Fleet,
): StepModule<{ expectEqual?: boolean }, ShardsOutput> {
  return {
    name: 'compare-shards',
    summary:
      "Compares every table of every shard between its home and the other DC's copy; with expectEqual, fails on any difference",
    inputSchema: ShardsInput,
    attemptsMax: 2,
    async execute(_input, context) {
      const catalog = await fleet.catalog.load();
      const shards: ShardsOutput['shards'][number][] = [];
      const unkeyed = new Set<string>();
      const replicating = (catalog?.shards ?? []).filter((s) => s.copyState === 'replicating');
      for (const shard of replicating) {
        await context.progress(shards.length, replicating.length, 'shards compared');
        const home = await fleet.shardPool(shard.id, 'home');
        const copy = await fleet.shardPool(shard.id, 'copy');
        const checked = await compareShardCopy(home, copy, shard.database);
        for (const table of checked.unkeyed) unkeyed.add(table);
        shards.push({ id: shard.id, tables: checked.tables });
      }
      await context.progress(shards.length, replicating.length, 'shards compared');
      const tables = shards.flatMap((shard) => shard.tables);
      const differences = tables.reduce((sum, table) => sum + table.differences, 0);
      await context.log(
        `${tables.length} tables of ${shards.length} shards compared with their copies: ${differences} difference(s)`,
      );
      return { shards, tablesCompared: tables.length, differences, unkeyed: [...unkeyed] };
    },
    async verify(input, output) {
      if (input.expectEqual && output.differences > 0)
        throw new MainstayError(
          'state_conflict',
          `the shards differ from their copies in ${output.differences} row(s)`,
        );
    },
  };
}
