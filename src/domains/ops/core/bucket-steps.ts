/**
 * `move-bucket`: one bucket of the shard map moved to another shard online (decision 58), as an
 * atomic ops module over the fleet's bucket move: its preflight checks the input and that every
 * row of the source can be attributed; its execution copies, catches up, cuts over with a brief
 * pause of the bucket's writes, and cleans up; its verification is the move's own.
 */
import { Type } from '@sinclair/typebox';
import { MainstayError } from '../../../errors/mainstay-error.ts';
import {
  abandonBucketMove,
  type BucketMoveReport,
  moveBucket,
  preflightBucketMove,
} from '../../../fleet/bucket-move.ts';
import type { FleetHost } from '../../../platform/domain-module.ts';
import type { StepModule } from '../../../workflow/workflow-types.ts';
import { OPS_APPROVER_ROLES } from './ops-roles.ts';

function bucketMoveInput() {
  return Type.Object(
    {
      bucket: Type.Integer({ minimum: 0, maximum: 32_767, description: 'The bucket to move.' }),
      toShard: Type.Integer({ minimum: 0, maximum: 32_767, description: 'The shard it moves to.' }),
    },
    { additionalProperties: false },
  );
}

type MoveOutput = Omit<BucketMoveReport, 'verification' | 'cutover' | 'tables'> & {
  readonly pauseMs: number | null;
  /** Pinned rows (ledger accounts and their answers) closed out on the source and brought in. */
  readonly carriedRows: number;
  readonly epoch: number | null;
  readonly verified: boolean;
  readonly problems: readonly string[];
};

/** `move-bucket`: the bucket's rows copied to `toShard`, the map changed, the source cleaned. */
export function moveBucketModule(
  host: FleetHost,
): StepModule<{ bucket: number; toShard: number }, MoveOutput> {
  return {
    name: 'move-bucket',
    summary:
      'Moves one bucket of the shard map to another shard online: copy, catch up, cut over with a brief pause of its writes, verify, clean up the source',
    inputSchema: bucketMoveInput(),
    attemptsMax: 3,
    approverRoles: OPS_APPROVER_ROLES,
    async preflight(input) {
      await preflightBucketMove(host.fleet, input);
    },
    async execute(input, context) {
      const report = await moveBucket(host.fleet, input, context.signal);
      const { verification, cutover, tables: _tables, ...rest } = report;
      await context.log(
        `bucket ${report.bucket} moved from shard ${report.fromShard} to shard ${report.toShard}: ${report.copiedRows} rows copied, ${report.changesApplied} changes applied in ${report.catchUpRounds} rounds; writes to the bucket paused ${cutover ? Math.round(cutover.pauseMs) : 'no'} ms; ${cutover?.carried.arrived ?? 0} pinned rows carried (accounts' balances brought forward, their transfers' answers copied); ${report.deletedRows} rows removed from the source`,
      );
      return {
        ...rest,
        pauseMs: cutover ? Math.round(cutover.pauseMs) : null,
        carriedRows: cutover?.carried.arrived ?? 0,
        epoch: cutover?.epoch ?? null,
        verified: verification.ok,
        problems: verification.problems,
      };
    },
    async compensate(input, _output, context) {
      // Before its cutover a move is given up; past it, only running it again finishes it.
      if (await abandonBucketMove(host.fleet, input))
        await context.log(`the move of bucket ${input.bucket} was given up before its cutover`);
    },
    async verify(_input, output) {
      if (!output.verified)
        throw new MainstayError(
          'state_conflict',
          `bucket ${output.bucket} did not verify after its move: ${output.problems.join('; ')}`,
        );
    },
  };
}
