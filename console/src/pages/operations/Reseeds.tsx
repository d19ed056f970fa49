/** The newest re-seed requests: waiting, decided, and what the re-seed answered once it ran. */
import { useI18n } from '../../app/i18n.tsx';
import { type Column, DataTable } from '../../app/ui.tsx';
import { StatusBadge } from './RunList.tsx';
import type { ApprovalRequest } from './types.ts';
import { useWho } from './who.ts';

function resultOf(request: ApprovalRequest): string {
  if (!request.result) return '';
  const body = request.result.body as { outcome?: string; detail?: string; title?: string } | null;
  const text = body?.outcome ?? body?.title ?? '';
  return `${request.result.status} ${text}${body?.detail ? `: ${body.detail}` : ''}`;
}

export function Reseeds({ requests }: { requests: readonly ApprovalRequest[] | undefined }) {
  const { t, dateTime } = useI18n();
  const who = useWho();
  const columns: Column<ApprovalRequest>[] = [
    { key: 'id', label: t('operations.reseeds.request'), render: (r) => <code>{r.id}</code> },
    {
      key: 'dc',
      label: t('operations.field.dc'),
      render: (r) => (r.body as { dataCentre?: string } | null)?.dataCentre ?? '',
    },
    {
      key: 'status',
      label: t('operations.runs.status'),
      render: (r) => <StatusBadge status={r.status} testId={`reseed-status-${r.id}`} />,
    },
    {
      key: 'by',
      label: t('operations.runs.startedBy'),
      render: (r) => who(r.requestedBy),
    },
    {
      key: 'at',
      label: t('operations.runs.created'),
      render: (r) => dateTime(r.requestedAt),
    },
    {
      key: 'decided',
      label: t('operations.steps.decision'),
      render: (r) =>
        r.decidedBy
          ? t('operations.step.decided', { who: who(r.decidedBy), reason: r.reason ?? '—' })
          : '',
    },
    { key: 'result', label: t('operations.reseeds.result'), render: resultOf },
  ];
  return (
    <section className="panel" aria-labelledby="reseeds-title">
      <h2 id="reseeds-title">{t('operations.reseeds.title')}</h2>
      {requests === undefined ? (
        <p className="empty">{t('operations.loading')}</p>
      ) : (
        <DataTable
          rows={requests}
          columns={columns}
          rowKey={(r) => r.id}
          height={240}
          label={t('operations.reseeds.title')}
        />
      )}
    </section>
  );
}
