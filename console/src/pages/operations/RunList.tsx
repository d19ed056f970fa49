/** The ops runs of any workflow, newest first: status, progress through their steps, who and when. */
import { useI18n } from '../../app/i18n.tsx';
import { RowsAfter, useRowsAfter } from '../../app/paging.tsx';
import { type Column, DataTable } from '../../app/ui.tsx';
import { progressOf, type Run, tone } from './types.ts';
import { useWho } from './who.ts';

export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  const { t } = useI18n();
  const key = `operations.status.${status}`;
  const text = t(key);
  return (
    <span className={tone(status)} data-status={status} data-testid={testId}>
      {text === key ? status : text}
    </span>
  );
}

export function RunProgress({ run }: { run: Run }) {
  const { t } = useI18n();
  const { done, total } = progressOf(run);
  return (
    <span className="run-progress">
      <progress
        value={done}
        max={Math.max(total, 1)}
        aria-label={t('operations.progress.label', { done, total })}
      />{' '}
      {t('operations.progress.steps', { done, total })}
    </span>
  );
}

/**
 * The newest runs, live; the runs after them read on demand through the list's cursor, from
 * `after` (where the live page ends), a page at a time.
 */
export function RunList({
  runs,
  after,
  selected,
  onSelect,
}: {
  runs: readonly Run[] | undefined;
  after: string | null;
  selected: string | null;
  onSelect: (runId: string) => void;
}) {
  const { t, dateTime } = useI18n();
  const older = useRowsAfter<Run>('/v1/ops/runs', after);
  const rows = runs === undefined ? undefined : [...runs, ...older.list.rows];
  const who = useWho();
  const columns: Column<Run>[] = [
    {
      key: 'id',
      label: t('operations.runs.run'),
      render: (run) => (
        <button
          type="button"
          className="secondary link"
          aria-pressed={run.id === selected}
          onClick={() => onSelect(run.id)}
          data-testid={`run-${run.id}`}
        >
          {run.id}
        </button>
      ),
    },
    { key: 'workflow', label: t('operations.runs.workflow'), render: (run) => run.workflow },
    {
      key: 'status',
      label: t('operations.runs.status'),
      render: (run) => <StatusBadge status={run.status} testId={`run-status-${run.id}`} />,
    },
    {
      key: 'progress',
      label: t('operations.runs.progress'),
      render: (run) => <RunProgress run={run} />,
    },
    {
      key: 'by',
      label: t('operations.runs.startedBy'),
      render: (run) => who(run.startedBy),
    },
    {
      key: 'created',
      label: t('operations.runs.created'),
      render: (run) => dateTime(run.createdAt),
    },
    {
      key: 'updated',
      label: t('operations.runs.updated'),
      render: (run) => dateTime(run.updatedAt),
    },
  ];
  return (
    <section className="panel" aria-labelledby="runs-title">
      <h2 id="runs-title">{t('operations.runs.title')}</h2>
      {rows === undefined ? (
        <p className="empty">{t('operations.loading')}</p>
      ) : (
        <DataTable
          rows={rows}
          columns={columns}
          rowKey={(run) => run.id}
          height={360}
          label={t('operations.runs.title')}
        />
      )}
      <RowsAfter rows={older} label={t('operations.runs.older')} />
    </section>
  );
}
