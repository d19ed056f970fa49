/**
 * Operations: start a planned switchover, a DR drill or a re-seed (each approved by a second
 * person), decide on what waits for approval, and follow the runs live. Everything moving on
 * the page comes from the stream (`ops-runs`, `reseeds`, `topology`); the selected run's log from
 * its own event stream.
 */
import { useState } from 'react';
import { useI18n } from '../../app/i18n.tsx';
import { useStream } from '../../app/stream.ts';
import { Page, useApi } from '../../app/ui.tsx';
import { Approvals } from './Approvals.tsx';
import { Reseeds } from './Reseeds.tsx';
import { RunDetail } from './RunDetail.tsx';
import { RunList } from './RunList.tsx';
import { DrillForm, ReseedForm, SwitchoverForm } from './StartForms.tsx';
import type { OpsTopics, Run } from './types.ts';

const TOPICS = ['ops-runs', 'reseeds', 'topology'] as const;

/** The selected run: live from the topic while it is among the newest, else read once. */
function useSelectedRun(id: string | null, runs: readonly Run[] | undefined): Run | undefined {
  const live = id === null ? undefined : runs?.find((run) => run.id === id);
  const { value } = useApi<Run>(
    id !== null && runs !== undefined && live === undefined
      ? `/v1/ops/runs/${encodeURIComponent(id)}`
      : null,
  );
  return live ?? (value?.id === id ? value : undefined);
}

export function OperationsPage() {
  const { t } = useI18n();
  const live = useStream<OpsTopics>(TOPICS);
  const opsRuns = live['ops-runs'];
  const [selected, setSelected] = useState<string | null>(null);
  const [started, setStarted] = useState<Run | null>(null);
  const all = opsRuns ? [...opsRuns.runs, ...opsRuns.waiting] : undefined;
  const fromStream = useSelectedRun(selected, all);
  const run = fromStream ?? (started?.id === selected ? started : undefined);
  const onStarted = (next: Run) => {
    setStarted(next);
    setSelected(next.id);
  };
  return (
    <Page title={t('operations.title')}>
      <div className="grid">
        <SwitchoverForm topology={live.topology} onStarted={onStarted} />
        <DrillForm topology={live.topology} onStarted={onStarted} />
        <ReseedForm topology={live.topology} />
      </div>
      <Approvals runs={opsRuns?.waiting} reseeds={live.reseeds?.data} />
      {run ? <RunDetail run={run} /> : null}
      <RunList
        runs={opsRuns?.runs}
        after={opsRuns?.nextCursor ?? null}
        selected={selected}
        onSelect={setSelected}
      />
      <Reseeds requests={live.reseeds?.data} />
    </Page>
  );
}
