/**
 * The end-of-day checks (`GET /v1/ledger/end-of-day`), run when asked (each run reads every
 * shard's books): the trial balance per currency and each check with its breaks and figures.
 */
import { useState } from 'react';
import { api } from '../../app/api.ts';
import { useI18n } from '../../app/i18n.tsx';
import { ProblemBanner } from '../../app/ui.tsx';
import type { EndOfDayReport } from './ledger-data.ts';

const BUILT_IN_CHECKS = new Set(['trial_balance', 'books', 'pending_past_timeout']);

export function EndOfDayPanel() {
  const { t, dateTime } = useI18n();
  const [report, setReport] = useState<EndOfDayReport | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<unknown>(null);
  const run = async () => {
    setBusy(true);
    setProblem(null);
    try {
      setReport(await api<EndOfDayReport>('GET', '/v1/ledger/end-of-day'));
    } catch (error) {
      setProblem(error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-labelledby="ledger-eod">
      <h2 id="ledger-eod">{t('ledger.eod.title')}</h2>
      <div className="form-row">
        <button type="button" onClick={() => void run()} disabled={busy}>
          {busy ? t('ledger.eod.running') : report ? t('ledger.eod.runAgain') : t('ledger.eod.run')}
        </button>
        {report ? (
          <span>
            <span className={`badge ${report.ok ? 'ok' : 'bad'}`} data-testid="eod-status">
              {report.ok ? t('ledger.eod.ok') : t('ledger.eod.broken')}
            </span>{' '}
            {t('ledger.eod.asOf', { time: dateTime(report.asOf) })}
          </span>
        ) : (
          <span>{t('ledger.eod.hint')}</span>
        )}
      </div>
      <ProblemBanner problem={problem} />
      {report ? <TrialBalance report={report} /> : null}
      {report ? <Checks report={report} /> : null}
    </section>
  );
}

function TrialBalance({ report }: { report: EndOfDayReport }) {
  const { t, money } = useI18n();
  return (
    <div className="ledger-wide">
      <table className="data-table" aria-label={t('ledger.eod.trialBalance')}>
        <caption className="ledger-caption">{t('ledger.eod.trialBalance')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('ledger.accounts.currency')}</th>
            <th scope="col" className="num">
              {t('ledger.eod.debitsPosted')}
            </th>
            <th scope="col" className="num">
              {t('ledger.eod.creditsPosted')}
            </th>
            <th scope="col" className="num">
              {t('ledger.eod.pending')}
            </th>
            <th scope="col">{t('ledger.eod.balanced')}</th>
          </tr>
        </thead>
        <tbody>
          {report.trialBalance.map((row) => {
            const balanced =
              row.debitsPosted === row.creditsPosted && row.debitsPending === row.creditsPending;
            return (
              <tr key={row.currency} data-testid={`trial-${row.currency}`}>
                <td>{row.currency}</td>
                <td className="num">{money(row.debitsPosted, row.currency)}</td>
                <td className="num">{money(row.creditsPosted, row.currency)}</td>
                <td className="num">
                  {money(row.debitsPending, row.currency)} /{' '}
                  {money(row.creditsPending, row.currency)}
                </td>
                <td>
                  <span className={`badge ${balanced ? 'ok' : 'bad'}`}>
                    {balanced ? t('common.yes') : t('common.no')}
                  </span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function Checks({ report }: { report: EndOfDayReport }) {
  const { t, number } = useI18n();
  const checkName = (name: string) =>
    BUILT_IN_CHECKS.has(name) ? t(`ledger.eod.check.${name}`) : name;
  return (
    <ul className="ledger-checks" aria-label={t('ledger.eod.checks')}>
      {report.checks.map((check) => (
        <li key={check.name}>
          <span className={`badge ${check.ok ? 'ok' : 'bad'}`}>
            {check.ok
              ? t('ledger.eod.ok')
              : t('ledger.eod.breaks', { count: number(check.breakCount) })}
          </span>{' '}
          {checkName(check.name)}
          {check.breaks.length > 0 ? (
            <ul>
              {check.breaks.map((entry) => (
                <li key={`${entry.kind} ${entry.shardId} ${entry.subject}`}>
                  {t('ledger.eod.break', {
                    kind: entry.kind,
                    shard: entry.shardId ?? '—',
                    subject: entry.subject,
                    expected: entry.expected,
                    actual: entry.actual,
                  })}
                </li>
              ))}
            </ul>
          ) : null}
        </li>
      ))}
    </ul>
  );
}
