/**
 * Live charts of the fleet, one point per `topology` event: per data centre, the largest
 * replay lag of its replicas (bytes and ms) and its primary's WAL throughput (bytes per second
 * between two successive snapshots).
 */
import { useEffect, useRef, useState } from 'react';
import { useI18n } from '../../app/i18n.tsx';
import { LiveChart, useSamples } from '../../app/ui.tsx';
import { lagOf, type TopologySnapshot, type WalMark, walMarkOf, walRates } from './topology.ts';

interface Sample {
  readonly lagBytes: (number | null)[];
  readonly lagMs: (number | null)[];
  readonly walRate: (number | null)[];
}

/**
 * The latest sample of each chart. Each ends with the snapshot's time, past the charted series:
 * it makes every snapshot a new point, so the charts move on while the figures stand still.
 */
function useFleetSample(topology: TopologySnapshot | undefined): Sample | null {
  const mark = useRef<WalMark | null>(null);
  const [sample, setSample] = useState<Sample | null>(null);
  useEffect(() => {
    if (topology === undefined) return;
    const now = walMarkOf(topology);
    const ids = topology.dataCentres.map((dc) => dc.id);
    const walRate = walRates(ids, mark.current, now);
    mark.current = now;
    setSample({
      lagBytes: [...lagOf(topology, 'replayLagBytes'), now.atMs],
      lagMs: [...lagOf(topology, 'replayLagMs'), now.atMs],
      walRate: [...walRate, now.atMs],
    });
  }, [topology]);
  return sample;
}

export function FleetCharts({ topology }: { topology: TopologySnapshot | undefined }) {
  const { t } = useI18n();
  const sample = useFleetSample(topology);
  const lagBytes = useSamples(sample?.lagBytes ?? null);
  const lagMs = useSamples(sample?.lagMs ?? null);
  const walRate = useSamples(sample?.walRate ?? null);
  const series = (topology?.dataCentres ?? []).map((dc) => dc.id);
  if (series.length === 0) return null;
  return (
    <section className="grid overview-charts" aria-label={t('overview.charts')}>
      <LiveChart title={t('overview.chart.lagBytes')} series={series} points={lagBytes} />
      <LiveChart title={t('overview.chart.lagMs')} series={series} points={lagMs} />
      <LiveChart title={t('overview.chart.walRate')} series={series} points={walRate} />
    </section>
  );
}
