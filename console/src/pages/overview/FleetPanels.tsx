/** The fleet as the overview shows it: each data centre, every server, every shard's homes. */
import { useI18n } from '../../app/i18n.tsx';
import { type Column, DataTable } from '../../app/ui.tsx';
import { formatBytes } from './format.ts';
import {
  type DataCentreStatus,
  type ServerStatus,
  type ShardStatus,
  stateTone,
  type TopologySnapshot,
} from './topology.ts';

/** A state's badge; `prefix` names its messages (a state this console does not know shows as it is). */
export function StateBadge({
  state,
  prefix = 'overview.state',
}: {
  state: string;
  prefix?: string | null;
}) {
  const { t } = useI18n();
  const key = `${prefix}.${state}`;
  const text = prefix === null ? state : t(key);
  return (
    <span className={`badge ${stateTone(state)}`} data-state={state}>
      {text === key ? state : text}
    </span>
  );
}

export function RoleBadge({ role }: { role: string }) {
  const { t } = useI18n();
  return (
    <span className={`badge role role-${role}`} data-role={role}>
      {t(`overview.role.${role}`)}
    </span>
  );
}

/** A server's lag behind its primary, as `472 B · 22 ms`; empty for a primary. */
function Lag({ server }: { server: ServerStatus }) {
  const i18n = useI18n();
  if (server.replayLagBytes === null && server.replayLagMs === null) return null;
  const parts = [
    server.replayLagBytes === null ? null : formatBytes(i18n, server.replayLagBytes),
    server.replayLagMs === null
      ? null
      : i18n.t('events.ms', { n: i18n.number(server.replayLagMs) }),
  ];
  return <span className="lag">{parts.filter((part) => part !== null).join(' · ')}</span>;
}

function DcServer({ server, primary }: { server: ServerStatus | undefined; primary: boolean }) {
  const { t } = useI18n();
  if (server === undefined) return null;
  return (
    <li className="dc-server" data-testid={primary ? 'dc-primary-server' : 'dc-replica-server'}>
      <strong data-testid={primary ? 'dc-primary' : 'dc-replica'}>{server.id}</strong>
      <RoleBadge role={server.role} />
      <StateBadge state={server.state} />
      {server.streamingState !== null ? (
        <StateBadge state={server.streamingState} prefix="overview.walsender" />
      ) : null}
      {server.fencedAtEpoch !== null ? (
        <span className="badge bad">{t('overview.fencedAt', { epoch: server.fencedAtEpoch })}</span>
      ) : null}
      <Lag server={server} />
      {server.detail !== null ? <p className="dc-detail">{server.detail}</p> : null}
    </li>
  );
}

function DataCentreCard({ dc, topology }: { dc: DataCentreStatus; topology: TopologySnapshot }) {
  const { t } = useI18n();
  const server = (id: string) => topology.servers.find((s) => s.id === id);
  const homed = topology.shards.filter((shard) => shard.homeDc === dc.id).length;
  const copies = topology.shards.filter((shard) => shard.copyDc === dc.id).length;
  return (
    <article
      className="panel dc-card"
      data-testid={`dc-${dc.id}`}
      aria-labelledby={`dc-${dc.id}-title`}
    >
      <h2 id={`dc-${dc.id}-title`}>{t('overview.dc', { id: dc.id })}</h2>
      <dl className="dc-facts">
        <dt>{t('overview.syncCommit')}</dt>
        <dd data-testid="dc-sync-commit">{dc.synchronousCommit}</dd>
        <dt>{t('overview.shardsHomed')}</dt>
        <dd>{t('overview.homesAndCopies', { homes: homed, copies })}</dd>
      </dl>
      <ul className="dc-servers">
        <DcServer server={server(dc.primary)} primary />
        {dc.replicas.map((id) => (
          <DcServer key={id} server={server(id)} primary={false} />
        ))}
      </ul>
    </article>
  );
}

export function DataCentres({ topology }: { topology: TopologySnapshot }) {
  return (
    <div className="grid">
      {topology.dataCentres.map((dc) => (
        <DataCentreCard key={dc.id} dc={dc} topology={topology} />
      ))}
    </div>
  );
}

function serverColumns(i18n: ReturnType<typeof useI18n>): Column<ServerStatus>[] {
  const { t, number } = i18n;
  const dash = '—';
  return [
    { key: 'id', label: t('overview.server'), render: (s) => <strong>{s.id}</strong> },
    { key: 'dc', label: t('overview.dcColumn'), render: (s) => s.dc ?? dash },
    { key: 'role', label: t('overview.role'), render: (s) => <RoleBadge role={s.role} /> },
    { key: 'state', label: t('overview.state'), render: (s) => <StateBadge state={s.state} /> },
    { key: 'address', label: t('overview.address'), render: (s) => `${s.host}:${s.port}` },
    {
      key: 'lsn',
      label: t('overview.lastWalLsn'),
      render: (s) => <code>{s.lastWalLsn ?? dash}</code>,
    },
    {
      key: 'lagBytes',
      label: t('overview.lagBytes'),
      numeric: true,
      render: (s) => (s.replayLagBytes === null ? dash : formatBytes(i18n, s.replayLagBytes)),
    },
    {
      key: 'lagMs',
      label: t('overview.lagMs'),
      numeric: true,
      render: (s) => (s.replayLagMs === null ? dash : number(s.replayLagMs)),
    },
    {
      key: 'streaming',
      label: t('overview.streaming'),
      render: (s) =>
        s.streamingState === null ? (
          dash
        ) : (
          <StateBadge state={s.streamingState} prefix="overview.walsender" />
        ),
    },
    {
      key: 'note',
      label: t('overview.note'),
      render: (s) =>
        [
          s.fencedAtEpoch === null ? null : t('overview.fencedAt', { epoch: s.fencedAtEpoch }),
          s.detail,
        ]
          .filter((part) => part !== null)
          .join(' · ') || dash,
    },
  ];
}

export function ServersTable({ servers }: { servers: readonly ServerStatus[] }) {
  const i18n = useI18n();
  return (
    <DataTable
      rows={servers}
      columns={serverColumns(i18n)}
      rowKey={(s) => s.id}
      height={40 + 32 * Math.max(servers.length, 1)}
      label={i18n.t('overview.servers')}
    />
  );
}

function shardColumns(i18n: ReturnType<typeof useI18n>): Column<ShardStatus>[] {
  const { t, number } = i18n;
  return [
    { key: 'id', label: t('overview.shard'), numeric: true, render: (s) => number(s.id) },
    { key: 'db', label: t('overview.database'), render: (s) => <code>{s.database}</code> },
    { key: 'home', label: t('overview.homeDc'), render: (s) => <strong>{s.homeDc}</strong> },
    { key: 'copy', label: t('overview.copyDc'), render: (s) => s.copyDc },
    {
      key: 'buckets',
      label: t('overview.buckets'),
      render: (s) => s.buckets.map(([a, b]) => `${number(a)}–${number(b)}`).join(', '),
    },
    {
      key: 'copyState',
      label: t('overview.copyState'),
      render: (s) => <StateBadge state={s.copyState} />,
    },
    {
      key: 'logical',
      label: t('overview.logical'),
      render: (s) => <StateBadge state={s.logicalReplication.state} prefix="overview.logical" />,
    },
    {
      key: 'copyLag',
      label: t('overview.copyLag'),
      numeric: true,
      render: (s) =>
        s.logicalReplication.lagBytes === null
          ? '—'
          : formatBytes(i18n, s.logicalReplication.lagBytes),
    },
    { key: 'detail', label: t('overview.note'), render: (s) => s.logicalReplication.detail ?? '—' },
  ];
}

export function ShardsTable({ shards }: { shards: readonly ShardStatus[] }) {
  const i18n = useI18n();
  return (
    <DataTable
      rows={shards}
      columns={shardColumns(i18n)}
      rowKey={(s) => String(s.id)}
      height={Math.min(40 + 32 * Math.max(shards.length, 1), 480)}
      label={i18n.t('overview.shards')}
    />
  );
}
