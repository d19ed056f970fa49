import { useEffect, useRef, useState } from 'react';
import { useI18n } from '../../app/i18n.tsx';
import { LoadMore, usePagedList } from '../../app/paging.tsx';
import { type Column, DataTable, ProblemBanner, useApi } from '../../app/ui.tsx';

/** One advice as `GET /v1/stand-in/advices` lists it. */
interface Advice {
  readonly authorizationId: string;
  readonly shardId: number;
  readonly cardId: string;
  readonly state: 'pending' | 'forwarded' | 'quarantined';
  readonly standInStatus: string;
  readonly amount: number;
  readonly currency: string;
  readonly decidedAt: string;
  readonly result: string | null;
  readonly issuerStatus: string | null;
  readonly exposure: number | null;
  readonly quarantine: { readonly errorCode: string } | null;
}

/** `GET /v1/stand-in/reconciliation`: every shard's ledger of forwarded advices. */
interface Reconciliation {
  readonly counts: Readonly<Record<string, number>>;
  readonly exposureByCurrency: Readonly<Record<string, number>>;
  readonly pendingAdvices: number;
  readonly quarantinedAdvices: number;
  readonly shards: readonly {
    readonly shardId: number;
    readonly counts: Readonly<Record<string, number>>;
    readonly pendingAdvices: number;
    readonly quarantinedAdvices: number;
  }[];
}

const FILTERS = ['all', 'pending', 'answer_conflict', 'exposure', 'quarantined'] as const;
type Filter = (typeof FILTERS)[number];

function shown(advice: Advice, filter: Filter): boolean {
  if (filter === 'all') return true;
  if (filter === 'pending' || filter === 'quarantined') return advice.state === filter;
  return advice.result === filter;
}

/** Reads again whenever `changeKey` changes after its first value (no polling). */
function useReadAgain(changeKey: string, reload: () => void): void {
  const seen = useRef<string | null>(null);
  useEffect(() => {
    if (changeKey === '') return;
    if (seen.current !== null && seen.current !== changeKey) reload();
    seen.current = changeKey;
  }, [changeKey, reload]);
}

function useAdviceColumns(): Column<Advice>[] {
  const { t, money, dateTime } = useI18n();
  const status = (value: string | null) => (value === null ? '—' : t(`cards.status.${value}`));
  return [
    { key: 'id', label: t('cards.advices.id'), render: (a) => <code>{a.authorizationId}</code> },
    { key: 'shard', label: t('cards.shards.shard'), render: (a) => a.shardId },
    {
      key: 'state',
      label: t('cards.advices.state'),
      render: (a) => (
        <span
          className={`badge ${a.state === 'quarantined' ? 'bad' : a.state === 'pending' ? 'warn' : 'ok'}`}
        >
          {t(`cards.adviceState.${a.state}`)}
        </span>
      ),
    },
    {
      key: 'standIn',
      label: t('cards.advices.standInStatus'),
      render: (a) => status(a.standInStatus),
    },
    {
      key: 'amount',
      label: t('cards.advices.amount'),
      numeric: true,
      render: (a) => money(a.amount, a.currency),
    },
    { key: 'decided', label: t('cards.advices.decidedAt'), render: (a) => dateTime(a.decidedAt) },
    {
      key: 'result',
      label: t('cards.advices.result'),
      render: (a) =>
        a.result === null ? (
          (a.quarantine?.errorCode ?? '—')
        ) : (
          <span
            className={`badge ${a.result === 'answer_conflict' || a.result === 'exposure' ? 'bad' : ''}`}
          >
            {t(`cards.result.${a.result}`)}
          </span>
        ),
    },
    {
      key: 'issuer',
      label: t('cards.advices.issuerStatus'),
      render: (a) => status(a.issuerStatus),
    },
    {
      key: 'exposure',
      label: t('cards.advices.exposure'),
      numeric: true,
      render: (a) => (a.exposure ? money(a.exposure, a.currency) : '—'),
    },
  ];
}

/**
 * The stand-in advices (pending, forwarded with their reconciliation, quarantined), a page at
 * a time and more on demand, filtered here to the conflicts or exposure for review; read again
 * when the stream's counts say the backlog changed.
 */
export function AdvicesPanel({ changeKey }: { changeKey: string }) {
  const { t } = useI18n();
  const [filter, setFilter] = useState<Filter>('all');
  const list = usePagedList<Advice>('/v1/stand-in/advices');
  useReadAgain(changeKey, list.reload);
  const columns = useAdviceColumns();
  const rows = list.rows.filter((advice) => shown(advice, filter));
  return (
    <section className="panel" aria-labelledby="cards-advices-title">
      <h2 id="cards-advices-title">{t('cards.advices.title')}</h2>
      <div className="form-row">
        <label>
          {t('cards.advices.filter')}
          <select value={filter} onChange={(event) => setFilter(event.target.value as Filter)}>
            {FILTERS.map((name) => (
              <option key={name} value={name}>
                {t(`cards.filter.${name}`)}
              </option>
            ))}
          </select>
        </label>
        <LoadMore list={list} all />
      </div>
      <ProblemBanner problem={list.problem} />
      <DataTable
        label={t('cards.advices.title')}
        rows={rows}
        columns={columns}
        rowKey={(a) => a.authorizationId}
        height={320}
      />
    </section>
  );
}

const RESULTS = [
  'matched',
  'exposure',
  'declined_recorded',
  'duplicate_dropped',
  'answer_conflict',
];

/** Every shard's reconciliation: forwarded advices by result, exposure, what is left. */
export function ReconciliationPanel({ changeKey }: { changeKey: string }) {
  const { t, number, money } = useI18n();
  const { value, problem, reload } = useApi<Reconciliation>('/v1/stand-in/reconciliation');
  useReadAgain(changeKey, reload);
  return (
    <section className="panel" aria-labelledby="cards-recon-title">
      <h2 id="cards-recon-title">{t('cards.recon.title')}</h2>
      <ProblemBanner problem={problem} />
      {value ? (
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">{t('cards.shards.shard')}</th>
              {RESULTS.map((result) => (
                <th key={result} scope="col" className="num">
                  {t(`cards.result.${result}`)}
                </th>
              ))}
              <th scope="col" className="num">
                {t('cards.recon.quarantined')}
              </th>
            </tr>
          </thead>
          <tbody>
            {value.shards.map((shard) => (
              <tr key={shard.shardId}>
                <th scope="row">{shard.shardId}</th>
                {RESULTS.map((result) => (
                  <td key={result} className="num">
                    {number(shard.counts[result] ?? 0)}
                  </td>
                ))}
                <td className="num">{number(shard.quarantinedAdvices)}</td>
              </tr>
            ))}
            <tr className="total">
              <th scope="row">{t('cards.recon.all')}</th>
              {RESULTS.map((result) => (
                <td
                  key={result}
                  className="num"
                  data-testid={result === 'answer_conflict' ? 'recon-conflicts' : undefined}
                >
                  {number(value.counts[result] ?? 0)}
                </td>
              ))}
              <td className="num">{number(value.quarantinedAdvices)}</td>
            </tr>
          </tbody>
        </table>
      ) : (
        <p className="empty">{t('common.loading')}</p>
      )}
      {value ? (
        <p>
          {t('cards.recon.exposure')}:{' '}
          {Object.entries(value.exposureByCurrency)
            .map(([currency, minor]) => money(minor, currency))
            .join(' · ') || '—'}
        </p>
      ) : null}
    </section>
  );
}
