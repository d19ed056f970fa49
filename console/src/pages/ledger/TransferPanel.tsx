/**
 * One transfer between two accounts of a shard (`POST /v1/ledger/transfers`), the amount typed
 * as a person writes it and sent as exact minor units. A refusal (`insufficient_funds`...) is
 * the transfer's status, shown as such; a problem with the call is shown as a problem.
 */
import { type FormEvent, useState } from 'react';
import { api, idempotencyKey } from '../../app/api.ts';
import { useI18n } from '../../app/i18n.tsx';
import { Guard, ProblemBanner } from '../../app/ui.tsx';
import { parseMinorUnits } from './ledger-data.ts';

interface Outcome {
  readonly id: string;
  readonly status: string;
  readonly amount: number;
  readonly currency: string;
}

const KNOWN_STATUSES = new Set([
  'posted',
  'insufficient_funds',
  'exceeds_debits',
  'account_closed',
  'currency_mismatch',
  'debit_account_not_found',
  'credit_account_not_found',
  'invalid_request',
]);

export function TransferPanel({ onPosted }: { onPosted: () => void }) {
  const { t, money } = useI18n();
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<unknown>(null);
  const [invalid, setInvalid] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = (name: string) => String(form.get(name) ?? '').trim();
    const currency = text('currency').toUpperCase();
    const amount = parseMinorUnits(text('amount'), currency);
    setOutcome(null);
    setProblem(null);
    setInvalid(amount === null ? t('ledger.transfer.badAmount') : null);
    if (amount === null) return;
    const request = {
      id: `console-${idempotencyKey()}`,
      debitAccountId: text('debit'),
      creditAccountId: text('credit'),
      amount,
      currency,
      ...(text('reference') ? { reference: text('reference') } : {}),
    };
    setBusy(true);
    try {
      const answer = await api<{ data: { id: string; status: string; amount: number }[] }>(
        'POST',
        '/v1/ledger/transfers',
        { body: { requests: [request] } },
      );
      const first = answer.data[0];
      if (first) setOutcome({ ...first, amount, currency });
      if (first?.status === 'posted') onPosted();
    } catch (error) {
      setProblem(error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-labelledby="ledger-transfer">
      <h2 id="ledger-transfer">{t('ledger.transfer.title')}</h2>
      <form className="ledger-transfer" onSubmit={submit}>
        <Guard needs="ledger:write" note>
          <label>
            {t('ledger.transfer.debit')}
            <input name="debit" required placeholder="lacc_…" />
          </label>
          <label>
            {t('ledger.transfer.credit')}
            <input name="credit" required placeholder="lacc_…" />
          </label>
          <div className="form-row">
            <label>
              {t('ledger.transfer.amount')}
              <input name="amount" required inputMode="decimal" placeholder="12.34" size={12} />
            </label>
            <label>
              {t('ledger.accounts.currency')}
              <input name="currency" required defaultValue="CNY" size={5} maxLength={3} />
            </label>
          </div>
          <label>
            {t('ledger.transfer.reference')}
            <input name="reference" maxLength={255} />
          </label>
          <div>
            <button type="submit" disabled={busy}>
              {busy ? t('common.loading') : t('ledger.transfer.submit')}
            </button>
          </div>
        </Guard>
      </form>
      {invalid ? (
        <p className="problem" role="alert">
          {invalid}
        </p>
      ) : null}
      <ProblemBanner problem={problem} />
      {outcome ? (
        <p data-testid="transfer-outcome" role="status">
          <span className={`badge ${outcome.status === 'posted' ? 'ok' : 'bad'}`}>
            {KNOWN_STATUSES.has(outcome.status)
              ? t(`ledger.status.${outcome.status}`)
              : outcome.status}
          </span>{' '}
          {t('ledger.transfer.outcome', {
            amount: money(outcome.amount, outcome.currency),
            id: outcome.id,
          })}
        </p>
      ) : null}
    </section>
  );
}
