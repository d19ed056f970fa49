import type { TopologySnapshot } from '../fleet/topology-snapshot.ts';

/** Renders rows as a plain-text table with a header, columns padded to their widest cell. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join(
    '\n',
  );
}

const show = (value: string | number | null): string => (value === null ? '-' : String(value));

/** The topology as the two tables `mainstay status` prints: servers, then shards. */
export function renderTopology(topology: TopologySnapshot): string {
  const servers = renderTable(
    [
      'SERVER',
      'DC',
      'ROLE',
      'STATE',
      'PORT',
      'PID',
      'WAL LSN',
      'LAG BYTES',
      'LAG MS',
      'STREAMING',
      'FENCED',
    ],
    topology.servers.map((s) => [
      s.id,
      show(s.dc),
      s.role,
      s.state,
      String(s.port),
      show(s.pid),
      show(s.lastWalLsn),
      show(s.replayLagBytes),
      show(s.replayLagMs),
      show(s.streamingState),
      s.fencedAtEpoch === null ? '-' : `epoch ${s.fencedAtEpoch}`,
    ]),
  );
  const shards = renderTable(
    ['SHARD', 'DATABASE', 'HOME', 'COPY', 'BUCKETS', 'COPY STATE', 'LOGICAL COPY', 'LAG BYTES'],
    topology.shards.map((s) => [
      String(s.id),
      s.database,
      s.homeDc,
      s.copyDc,
      s.buckets.map(([first, last]) => `${first}-${last}`).join(','),
      s.copyState,
      s.logicalReplication.state,
      show(s.logicalReplication.lagBytes),
    ]),
  );
  const problems = [
    ...topology.servers,
    ...topology.shards.map((s) => ({ id: `shard ${s.id}`, detail: s.logicalReplication.detail })),
  ]
    .filter((item) => item.detail)
    .map((item) => `  ${item.id}: ${item.detail}`);
  return [
    `epoch ${show(topology.epoch)}   catalog ${topology.catalog.state} on ${topology.catalog.server}   observed ${topology.observedAt}`,
    '',
    servers,
    '',
    shards,
    ...(problems.length > 0 ? ['', 'attention:', ...problems] : []),
  ].join('\n');
}
