/**
 * The fleet at a glance, live from the stream's `topology` and `events` topics (no polling):
 * each data centre with its primary, replicas and synchronous commit; every server's role and
 * state; replication lag and WAL throughput as live charts; shard homes and copies; the catalog
 * epoch; and the newest events, so that a failover shows here as it happens.
 */
import { useI18n } from '../../app/i18n.tsx';
import { useStream } from '../../app/stream.ts';
import { Figure, Page } from '../../app/ui.tsx';
import { EventTimeline } from '../events/EventTimeline.tsx';
import type { FailoverEvent } from '../events/events.ts';
import { FleetCharts } from './FleetCharts.tsx';
import { DataCentres, ServersTable, ShardsTable, StateBadge } from './FleetPanels.tsx';
import type { TopologySnapshot } from './topology.ts';
import './overview.css';

const NEWEST_EVENTS = 5;

interface Topics extends Record<string, unknown> {
  topology: TopologySnapshot;
  events: FailoverEvent[];
}

function Summary({ topology }: { topology: TopologySnapshot }) {
  const { t, number, dateTime } = useI18n();
  const up = topology.servers.filter((server) => server.state === 'up').length;
  return (
    <div className="figures">
      <Figure
        label={t('overview.epoch')}
        value={topology.epoch === null ? '—' : number(topology.epoch)}
        testId="catalog-epoch"
      />
      <Figure
        label={t('overview.catalog')}
        value={
          <span className="catalog-figure">
            {topology.catalog.server} <StateBadge state={topology.catalog.state} />
          </span>
        }
        testId="catalog-server"
      />
      <Figure
        label={t('overview.serversUp')}
        value={t('overview.ofTotal', { n: number(up), total: number(topology.servers.length) })}
        testId="servers-up"
      />
      <Figure
        label={t('overview.observedAt')}
        value={<time dateTime={topology.observedAt}>{dateTime(topology.observedAt)}</time>}
        testId="observed-at"
      />
    </div>
  );
}

function NewestEvents({ events }: { events: readonly FailoverEvent[] | undefined }) {
  const { t } = useI18n();
  return (
    <section className="panel" aria-labelledby="overview-events">
      <div className="panel-title">
        <h2 id="overview-events">{t('overview.newestEvents')}</h2>
        <a href="#/events">{t('overview.allEvents')}</a>
      </div>
      {events === undefined ? (
        <p className="empty">{t('overview.waiting')}</p>
      ) : (
        <EventTimeline events={events.slice(0, NEWEST_EVENTS)} label={t('overview.newestEvents')} />
      )}
    </section>
  );
}

export function OverviewPage() {
  const { t } = useI18n();
  const { topology, events } = useStream<Topics>(['topology', 'events']);
  return (
    <Page title={t('overview.title')}>
      {topology === undefined ? (
        <p className="empty" data-testid="overview-waiting">
          {t('overview.waiting')}
        </p>
      ) : (
        <>
          <Summary topology={topology} />
          <DataCentres topology={topology} />
        </>
      )}
      <NewestEvents events={events} />
      <FleetCharts topology={topology} />
      {topology === undefined ? null : (
        <>
          <section className="panel" aria-labelledby="overview-servers">
            <h2 id="overview-servers">{t('overview.servers')}</h2>
            <ServersTable servers={topology.servers} />
          </section>
          <section className="panel" aria-labelledby="overview-shards">
            <h2 id="overview-shards">{t('overview.shards')}</h2>
            <ShardsTable shards={topology.shards} />
          </section>
        </>
      )}
    </Page>
  );
}
