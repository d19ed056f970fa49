/**
 * One account: its balances and its statement (`GET /v1/ledger/accounts/{id}/statement`),
 * newest posting first, each with the balance after it. Pages of 100 are read on demand ('load
 * more', or 'load all' to follow the cursor to the first posting); the table renders only the
 * rows in view, and the filter runs on the rows read, deferred so typing stays responsive.
 */
import { useDeferredValue, useMemo, useState } from 'react';
import { useI18n } from '../../app/i18n.tsx';
import { LoadMore, usePagedList } from '../../app/paging.tsx';
import { type Column, DataTable, Figure, Page, ProblemBanner, useApi } from '../../app/ui.tsx';
import type { LedgerAccount, StatementLine } from './ledger-data.ts';

function useStatementColumns(currency: string): Column<StatementLine>[] {
  const { t, money, number, dateTime } = useI18n();
  return useMemo(() => {
    const amount = (minor: number) => (minor === 0 ? '' : money(minor, currency));
    return [
      {
        key: 'seq',
        label: t('ledger.statement.seq'),
        numeric: true,
        render: (row) => number(row.seq),
      },
      {
        key: 'postedAt',
        label: t('ledger.statement.postedAt'),
        render: (row) => dateTime(row.postedAt),
      },
      {
        key: 'transfer',
        label: t('ledger.statement.transfer'),
        render: (row) => row.transferId,
      },
      {
        key: 'debit',
        label: t('ledger.statement.debit'),
        numeric: true,
        render: (row) => amount(row.debit),
      },
      {
        key: 'credit',
        label: t('ledger.statement.credit'),
        numeric: true,
        render: (row) => amount(row.credit),
      },
      {
        key: 'pending',
        label: t('ledger.statement.pending'),
        numeric: true,
        render: (row) => amount(row.creditPending - row.debitPending),
      },
      {
        key: 'balance',
        label: t('ledger.statement.balance'),
        numeric: true,
        render: (row) => money(row.balance, currency),
      },
    ];
  }, [t, money, number, dateTime, currency]);
}

function AccountFigures({ account }: { account: LedgerAccount }) {
  const { t, money, number } = useI18n();
  const kind = t(`ledger.kind.${account.kind}`);
  return (
    <div className="figures">
      <Figure label={t('ledger.accounts.kind')} value={account.code ?? kind} />
      <Figure label={t('ledger.accounts.owner')} value={account.ownerId ?? '—'} />
      <Figure
        label={t('ledger.accounts.balance')}
        value={money(account.balance, account.currency)}
        testId="account-balance"
      />
      <Figure
        label={t('ledger.accounts.available')}
        value={money(account.available, account.currency)}
      />
      <Figure
        label={t('ledger.statement.pendingDebits')}
        value={money(account.debitsPending, account.currency)}
      />
      <Figure
        label={t('ledger.statement.pendingCredits')}
        value={money(account.creditsPending, account.currency)}
      />
      <Figure
        label={t('ledger.accounts.postings')}
        value={number(account.postingCount)}
        testId="account-postings"
      />
    </div>
  );
}

export function StatementView({ accountId }: { accountId: string }) {
  const { t, number } = useI18n();
  const account = useApi<LedgerAccount>(`/v1/ledger/accounts/${encodeURIComponent(accountId)}`);
  const statement = usePagedList<StatementLine>(
    `/v1/ledger/accounts/${encodeURIComponent(accountId)}/statement`,
  );
  const [filter, setFilter] = useState('');
  const deferred = useDeferredValue(filter.trim().toLowerCase());
  const rows = useMemo(
    () =>
      deferred === ''
        ? statement.rows
        : statement.rows.filter((row) => row.transferId.toLowerCase().includes(deferred)),
    [statement.rows, deferred],
  );
  const columns = useStatementColumns(account.value?.currency ?? 'XXX');
  const refresh = () => {
    account.reload();
    statement.reload();
  };
  return (
    <Page
      title={t('ledger.statement.title', { id: accountId })}
      actions={
        <>
          <a href="#/ledger">{t('ledger.statement.back')}</a>
          <button type="button" className="secondary" onClick={refresh}>
            {t('common.refresh')}
          </button>
        </>
      }
    >
      <ProblemBanner problem={account.problem} />
      {account.value ? <AccountFigures account={account.value} /> : null}
      <section className="panel" aria-labelledby="ledger-statement">
        <h2 id="ledger-statement">{t('ledger.statement.heading')}</h2>
        <div className="form-row">
          <label>
            {t('ledger.statement.filter')}
            <input
              type="search"
              value={filter}
              onChange={(event) => setFilter(event.target.value)}
              name="statementFilter"
            />
          </label>
          <button
            type="button"
            className="secondary"
            onClick={() => setFilter('')}
            disabled={filter === ''}
          >
            {t('ledger.statement.clear')}
          </button>
          <span data-testid="statement-shown" aria-live="polite">
            {t('ledger.statement.shown', {
              shown: number(rows.length),
              loaded: number(statement.rows.length),
              total: number(account.value?.postingCount ?? statement.rows.length),
            })}
          </span>
        </div>
        <ProblemBanner problem={statement.problem} />
        {account.value ? (
          <DataTable
            rows={rows}
            columns={columns}
            rowKey={(row) => String(row.seq)}
            height={520}
            label={t('ledger.statement.table')}
          />
        ) : null}
        <div className="form-row ledger-footer">
          <LoadMore list={statement} all />
        </div>
      </section>
    </Page>
  );
}
