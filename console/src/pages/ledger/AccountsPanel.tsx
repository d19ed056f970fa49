/**
 * Ledger accounts of every shard, newest first (`GET /v1/ledger/accounts`), 50 a page with
 * 'load more', filtered by kind, currency and owner; an id opens the account's statement.
 */
import { type FormEvent, useEffect, useMemo, useState } from 'react';
import { useI18n } from '../../app/i18n.tsx';
import { LoadMore, usePagedList } from '../../app/paging.tsx';
import { type Column, DataTable, ProblemBanner } from '../../app/ui.tsx';
import type { LedgerAccount } from './ledger-data.ts';

export const ACCOUNT_KINDS = [
  'deposit',
  'wallet',
  'settlement',
  'fees',
  'risk_reserve',
  'suspense',
  'card_receivable',
  'in_transit',
] as const;

interface Filter {
  readonly kind: string;
  readonly currency: string;
  readonly ownerId: string;
}

function listPath(filter: Filter): string {
  const query = new URLSearchParams();
  if (filter.kind) query.set('kind', filter.kind);
  if (filter.currency) query.set('currency', filter.currency.toUpperCase());
  if (filter.ownerId) query.set('ownerId', filter.ownerId);
  const text = query.toString();
  return `/v1/ledger/accounts${text ? `?${text}` : ''}`;
}

export const accountHref = (id: string) => `#/ledger/accounts/${encodeURIComponent(id)}`;

function useAccountColumns(): Column<LedgerAccount>[] {
  const { t, money, number } = useI18n();
  return useMemo(
    () => [
      {
        key: 'id',
        label: t('ledger.accounts.id'),
        render: (row) => <a href={accountHref(row.id)}>{row.id}</a>,
      },
      {
        key: 'kind',
        label: t('ledger.accounts.kind'),
        render: (row) => {
          const kind = t(`ledger.kind.${row.kind}`);
          const text =
            row.code === null
              ? kind
              : t('ledger.accounts.stripe', { kind, code: row.code, stripe: row.stripe ?? 0 });
          return <Clipped text={text} />;
        },
      },
      {
        key: 'owner',
        label: t('ledger.accounts.owner'),
        render: (row) => <Clipped text={row.ownerId ?? '—'} />,
      },
      {
        key: 'balance',
        label: t('ledger.accounts.balance'),
        numeric: true,
        render: (row) => money(row.balance, row.currency),
      },
      {
        key: 'available',
        label: t('ledger.accounts.available'),
        numeric: true,
        render: (row) => money(row.available, row.currency),
      },
      {
        key: 'pending',
        label: t('ledger.accounts.pending'),
        numeric: true,
        render: (row) => money(row.debitsPending, row.currency),
      },
      {
        key: 'postings',
        label: t('ledger.accounts.postings'),
        numeric: true,
        render: (row) => number(row.postingCount),
      },
    ],
    [t, money, number],
  );
}

/** A long text cut to its column, whole on hover. */
function Clipped({ text }: { text: string }) {
  return (
    <span className="ledger-clip" title={text}>
      {text}
    </span>
  );
}

export function AccountsPanel({ refreshKey }: { refreshKey: number }) {
  const { t, number } = useI18n();
  const [filter, setFilter] = useState<Filter>({ kind: '', currency: '', ownerId: '' });
  const list = usePagedList<LedgerAccount>(listPath(filter), 50);
  const columns = useAccountColumns();
  const { reload } = list;
  useEffect(() => {
    if (refreshKey > 0) reload();
  }, [refreshKey, reload]);
  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setFilter({
      kind: String(form.get('kind') ?? ''),
      currency: String(form.get('currency') ?? '').trim(),
      ownerId: String(form.get('ownerId') ?? '').trim(),
    });
  };
  return (
    <section className="panel" aria-labelledby="ledger-accounts">
      <h2 id="ledger-accounts">{t('ledger.accounts.title')}</h2>
      <form className="form-row" onSubmit={apply} aria-label={t('ledger.accounts.filter')}>
        <label>
          {t('ledger.accounts.kind')}
          <select name="kind" defaultValue="">
            <option value="">{t('ledger.accounts.anyKind')}</option>
            {ACCOUNT_KINDS.map((kind) => (
              <option key={kind} value={kind}>
                {t(`ledger.kind.${kind}`)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('ledger.accounts.currency')}
          <input name="currency" size={5} maxLength={3} placeholder="CNY" />
        </label>
        <label>
          {t('ledger.accounts.owner')}
          <input name="ownerId" />
        </label>
        <button type="submit">{t('ledger.accounts.apply')}</button>
        <button type="button" className="secondary" onClick={list.reload}>
          {t('common.refresh')}
        </button>
      </form>
      <OpenById />
      <ProblemBanner problem={list.problem} />
      <DataTable
        rows={list.rows}
        columns={columns}
        rowKey={(row) => row.id}
        height={360}
        label={t('ledger.accounts.title')}
      />
      <div className="form-row ledger-footer">
        <span data-testid="accounts-count">
          {t('ledger.accounts.count', { count: number(list.rows.length) })}
        </span>
        <LoadMore list={list} />
      </div>
    </section>
  );
}

/** An account opened by its id, whatever page of the list it is on. */
function OpenById() {
  const { t } = useI18n();
  const [id, setId] = useState('');
  return (
    <form
      className="form-row"
      aria-label={t('ledger.accounts.openById')}
      onSubmit={(event) => {
        event.preventDefault();
        window.location.hash = accountHref(id.trim());
      }}
    >
      <label>
        {t('ledger.accounts.openById')}
        <input
          value={id}
          onChange={(event) => setId(event.target.value)}
          placeholder="lacc_…"
          name="accountId"
          size={40}
        />
      </label>
      <button type="submit" className="secondary" disabled={id.trim() === ''}>
        {t('ledger.accounts.open')}
      </button>
    </form>
  );
}
