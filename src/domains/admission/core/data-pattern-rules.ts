/**
 * The table rules of the admission gate (decision 55): read/write splitting from the measured
 * read:write ratio of each table, sharding from its size and growth, measured or stated. A
 * measured figure decides (`required`); a stated one alone only recommends, since a stated rate
 * is a forecast until traffic confirms it.
 */
import type { ChangeTable } from './change-request.ts';
import { bytes, count, type Finding, type RuleContext } from './finding.ts';
import type { ReplicationLag, TableFigures } from './fleet-statistics.ts';

/** One finding per table the request names, or one saying it names none. */
export function readWriteSplittingRule(context: RuleContext): Finding[] {
  if (context.request.tables.length === 0) {
    return [{ subject: null, status: 'not_required', reason: 'the change names no table' }];
  }
  return context.request.tables.map((table) => splittingOf(table, context));
}

/**
 * The traffic a ratio is measured over: the window since the previous sample when it holds
 * enough rows (the recent past decides), else the counters' whole life.
 */
function trafficOf(figures: TableFigures | undefined, rowsMin: number) {
  if (!figures) return null;
  const { window } = figures;
  if (window && window.rowsRead + window.rowsWritten >= rowsMin) {
    return { ...window, over: `since ${window.since}` };
  }
  return { ...figures, over: "since the servers' statistics were last reset" };
}

function splittingOf(table: ChangeTable, context: RuleContext): Finding {
  const { readWriteRatioAbove: bound, readWriteRowsMin } = context.thresholds;
  const traffic = trafficOf(context.byTable.get(table.name), readWriteRowsMin);
  const measuredRows = traffic ? traffic.rowsRead + traffic.rowsWritten : 0;
  if (traffic && measuredRows >= readWriteRowsMin) {
    const above = traffic.rowsRead > bound * traffic.rowsWritten;
    const reason =
      `${table.name}: ${ratioText(traffic.rowsRead, traffic.rowsWritten)} measured over ` +
      `${count(traffic.rowsRead)} rows read (${count(traffic.rowsReadOnReplicas)} of them on ` +
      `replicas) and ${count(traffic.rowsWritten)} rows written ${traffic.over}, ` +
      `${above ? 'above' : 'at or below'} ${bound}:1`;
    return {
      subject: table.name,
      status: above ? 'required' : 'not_required',
      reason: above ? `${reason}${lagNote(context.measured.replication)}` : reason,
    };
  }
  const unmeasured = traffic
    ? `only ${count(measuredRows)} rows read and written measured, fewer than ${count(readWriteRowsMin)}`
    : 'not measured: no shard database holds it yet';
  const { expectedReadsPerSecond: reads, expectedWritesPerSecond: writes } = table;
  if (reads === undefined || writes === undefined) {
    return {
      subject: table.name,
      status: 'not_required',
      reason: `${table.name}: ${unmeasured}, and no read and write rates stated; measured again at the next evaluation`,
    };
  }
  const above = reads > bound * writes;
  return {
    subject: table.name,
    status: above ? 'recommended' : 'not_required',
    reason:
      `${table.name}: ${ratioText(reads, writes)} stated (${reads} reads and ${writes} writes a ` +
      `second), ${above ? 'above' : 'at or below'} ${bound}:1; ${unmeasured}` +
      (above ? '; confirm by measurement after release' : ''),
  };
}

function ratioText(reads: number, writes: number): string {
  if (writes === 0) return reads === 0 ? 'no reads and no writes' : 'reads and no writes';
  return `${(reads / writes).toFixed(1)} reads per write`;
}

/** What a reader of a replica must know: how stale it may be now. */
function lagNote(replication: readonly ReplicationLag[]): string {
  const physical = replication.filter((lag) => lag.kind === 'physical');
  if (physical.length === 0) return '; no replica is streaming now: reads fall back to primaries';
  const worstBytes = Math.max(...physical.map((lag) => lag.lagBytes));
  const worstMs = Math.max(...physical.map((lag) => lag.replayLagMs ?? 0));
  return (
    `; replicas lag up to ${count(worstMs)} ms (${bytes(worstBytes)}) now, so a read that ` +
    'must see its own writes sends the consistency token'
  );
}

/** One finding per table the request names, or one saying it names none. */
export function shardingRule(context: RuleContext): Finding[] {
  if (context.request.tables.length === 0) {
    return [{ subject: null, status: 'not_required', reason: 'the change names no table' }];
  }
  return context.request.tables.map((table) => shardingOf(table, context));
}

function shardingOf(table: ChangeTable, context: RuleContext): Finding {
  const { shardingBytesAbove: bound, growthHorizonDays: days } = context.thresholds;
  const figures = context.byTable.get(table.name);
  const measured = figures ? measuredProjection(figures, days) : null;
  const stated = statedProjection(table, days);
  const projected = Math.max(measured?.bytes ?? 0, stated?.bytes ?? 0);
  const basis = [measured?.text, stated?.text].filter((text) => text !== undefined).join('; ');
  const writes = table.expectedWritesPerSecond;
  const writeBound = context.thresholds.shardingWritesPerSecondAbove;
  if (writes !== undefined && writes > writeBound) {
    return {
      subject: table.name,
      status: 'required',
      reason: `${table.name}: ${count(writes)} writes a second stated, above the ${count(writeBound)} one primary should take${basis ? ` (${basis})` : ''}`,
    };
  }
  if (measured === null && stated === null) {
    return {
      subject: table.name,
      status: 'not_required',
      reason: `${table.name}: no size measured or stated`,
    };
  }
  const status =
    projected > bound ? 'required' : projected > bound / 2 ? 'recommended' : 'not_required';
  const against =
    status === 'required' ? 'above' : status === 'recommended' ? 'over half of' : 'within';
  return {
    subject: table.name,
    status,
    reason: `${table.name}: projected to ${bytes(projected)} in ${days} days, ${against} the ${bytes(bound)} one server should hold of a table (${basis})${figures && status !== 'not_required' ? skewNote(figures) : ''}`,
  };
}

function measuredProjection(figures: TableFigures, days: number) {
  const growth = figures.growthBytesPerDay;
  const grown = growth === null ? 0 : Math.max(growth, 0) * days;
  const growthText =
    growth === null
      ? 'growth not measured yet'
      : `growing ${bytes(growth)} a day since ${figures.growthSince}`;
  return {
    bytes: figures.bytes + grown,
    text: `measured ${bytes(figures.bytes)} over ${figures.shards} shards, ${growthText}`,
  };
}

function statedProjection(table: ChangeTable, days: number) {
  if (table.rowBytes === undefined) return null;
  const rows = (table.expectedRows ?? 0) + (table.growthRowsPerDay ?? 0) * days;
  return {
    bytes: rows * table.rowBytes,
    text: `stated ${count(table.expectedRows ?? 0)} rows of ${table.rowBytes} bytes, ${count(table.growthRowsPerDay ?? 0)} more a day`,
  };
}

/** A table the shard map does not spread: sharding it by the same key would not help. */
function skewNote(figures: TableFigures): string {
  const even = figures.bytes / Math.max(figures.shards, 1);
  if (figures.shards < 2 || figures.largestShardBytes <= 2 * even) return '';
  return `; one shard holds ${bytes(figures.largestShardBytes)} of it, over twice an even share: choose a shard key that spreads it`;
}
