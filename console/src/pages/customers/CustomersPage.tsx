/**
 * The customers page: the KYC review queue (`GET /v1/kyc/reviews`), each customer with what they
 * submitted as the API gives it (masked), approved or rejected with a reason. The queue is read
 * again when the stream's `kyc_reviews` figures change (a new submission, a decision), after a
 * decision here, and on the refresh button.
 */
import { useEffect, useState } from 'react';
import { api } from '../../app/api.ts';
import { useI18n } from '../../app/i18n.tsx';
import { LoadMore, usePagedList } from '../../app/paging.tsx';
import { useStream } from '../../app/stream.ts';
import { DecisionRow, Figure, Page, ProblemBanner, useApi } from '../../app/ui.tsx';
import './customers.css';

type ReviewStatus = 'pending' | 'approved' | 'rejected';

interface Customer {
  readonly id: string;
  readonly phone: string;
  readonly kycLevel: number;
  readonly phoneVerified: boolean;
  readonly realName: { fullName: string; idType: string; idNumber: string } | null;
  readonly bankCard: { number: string } | null;
  readonly review: {
    status: 'none' | ReviewStatus;
    reason: string | null;
    requestedAt: string | null;
    reviewedAt: string | null;
  };
  readonly paymentUserId: string | null;
  readonly createdAt: string;
}

interface QueueFigures {
  readonly pending: number;
  readonly approved: number;
  readonly rejected: number;
  readonly latestRequestedAt: string | null;
}

const STATUSES: readonly ReviewStatus[] = ['pending', 'approved', 'rejected'];

export function CustomersPage() {
  const { t, number } = useI18n();
  const [status, setStatus] = useState<ReviewStatus>('pending');
  const queue = usePagedList<Customer>(`/v1/kyc/reviews?status=${status}`);
  const { kyc_reviews: figures } = useStream<{ kyc_reviews: QueueFigures }>(['kyc_reviews']);
  const [done, setDone] = useState<string | null>(null);
  const changed = figures ? JSON.stringify(figures) : undefined;
  const reload = queue.reload;
  useEffect(() => {
    if (changed !== undefined) reload();
  }, [changed, reload]);
  const decided = (message: string) => {
    setDone(message);
    reload();
  };
  return (
    <Page
      title={t('customers.title')}
      actions={
        <button type="button" className="secondary" onClick={reload}>
          {t('common.refresh')}
        </button>
      }
    >
      <div className="figures">
        {STATUSES.map((name) => (
          <Figure
            key={name}
            label={t(`customers.figure.${name}`)}
            value={figures ? number(figures[name]) : '…'}
            testId={`kyc-${name}`}
          />
        ))}
      </div>
      <section className="panel" aria-labelledby="queue-title">
        <h2 id="queue-title">{t('customers.queue.title')}</h2>
        <div className="form-row">
          <label>
            {t('customers.queue.status')}
            <select
              value={status}
              onChange={(event) => setStatus(event.target.value as ReviewStatus)}
            >
              {STATUSES.map((name) => (
                <option key={name} value={name}>
                  {t(`customers.status.${name}`)}
                </option>
              ))}
            </select>
          </label>
        </div>
        {done ? (
          <p className="customers-done" role="status">
            {done}
          </p>
        ) : null}
        <ProblemBanner problem={queue.problem} />
        <Queue rows={queue.rows} onDecided={decided} />
        <div className="form-row">
          <LoadMore list={queue} />
        </div>
      </section>
    </Page>
  );
}

function Queue({
  rows,
  onDecided,
}: {
  rows: readonly Customer[] | undefined;
  onDecided: (message: string) => void;
}) {
  const { t } = useI18n();
  if (rows === undefined) return <p>{t('common.loading')}</p>;
  if (rows.length === 0) return <p className="empty">{t('customers.queue.empty')}</p>;
  return (
    <ul className="customers-list">
      {rows.map((customer) => (
        <ReviewItem key={customer.id} customer={customer} onDecided={onDecided} />
      ))}
    </ul>
  );
}

function ReviewItem({
  customer,
  onDecided,
}: {
  customer: Customer;
  onDecided: (message: string) => void;
}) {
  const { t } = useI18n();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<unknown>(null);
  const decide = async (verb: 'approve' | 'reject') => {
    setBusy(true);
    setProblem(null);
    try {
      await api('POST', `/v1/kyc/reviews/${customer.id}/${verb}`, {
        ...(verb === 'reject' ? { body: { reason: reason.trim() } } : {}),
      });
      onDecided(t(`customers.done.${verb}`, { phone: customer.phone }));
    } catch (error) {
      setProblem(error);
    } finally {
      setBusy(false);
    }
  };
  const reasonId = `kyc-reason-${customer.id}`;
  return (
    <li className="customers-item" data-testid="review" data-customer-id={customer.id}>
      <Submitted customer={customer} />
      <Documents customerId={customer.id} />
      {customer.review.status === 'pending' ? (
        <DecisionRow
          needs="identity:review"
          id={reasonId}
          reason={reason}
          onReason={setReason}
          busy={busy}
          maxLength={1000}
          labels={{
            approve: t('customers.approve'),
            reason: t('customers.reason'),
            reject: t('customers.reject'),
          }}
          onDecide={(decision) => void decide(decision)}
        />
      ) : null}
      <ProblemBanner problem={problem} />
    </li>
  );
}

/** What the customer submitted and where their review stands, as the API gives it (masked). */
function Submitted({ customer }: { customer: Customer }) {
  const { t, dateTime } = useI18n();
  const { realName, bankCard, review } = customer;
  const rows: [string, string][] = [
    [t('customers.field.id'), customer.id],
    [t('customers.field.phone'), customer.phone],
    [t('customers.field.phoneVerified'), t(customer.phoneVerified ? 'common.yes' : 'common.no')],
    [t('customers.field.fullName'), realName?.fullName ?? '—'],
    [t('customers.field.idType'), realName ? t(`customers.idType.${realName.idType}`) : '—'],
    [t('customers.field.idNumber'), realName?.idNumber ?? '—'],
    [t('customers.field.bankCard'), bankCard?.number ?? '—'],
    [t('customers.field.kycLevel'), String(customer.kycLevel)],
    [t('customers.field.createdAt'), dateTime(customer.createdAt)],
    [t('customers.field.requestedAt'), review.requestedAt ? dateTime(review.requestedAt) : '—'],
  ];
  if (review.reviewedAt) rows.push([t('customers.field.reviewedAt'), dateTime(review.reviewedAt)]);
  if (review.reason) rows.push([t('customers.field.reason'), review.reason]);
  if (customer.paymentUserId) rows.push([t('customers.field.paymentUser'), customer.paymentUserId]);
  return (
    <>
      <div className="customers-head">
        <strong>{realName?.fullName ?? customer.phone}</strong>{' '}
        <span className={`badge ${BADGE[review.status]}`} data-status={review.status}>
          {t(`customers.status.${review.status}`)}
        </span>
      </div>
      <dl className="customers-fields">
        {rows.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </>
  );
}

interface ReviewDocument {
  readonly id: string;
  readonly kind: string;
  readonly mediaType: string;
  readonly sizeBytes: number;
  readonly createdAt: string;
}

/** The documents the customer sent, as the API describes them (never their content). */
function Documents({ customerId }: { customerId: string }) {
  const { t, number, dateTime } = useI18n();
  const sent = useApi<{ data: readonly ReviewDocument[] }>(
    `/v1/kyc/reviews/${customerId}/documents`,
  );
  if (sent.problem) return <ProblemBanner problem={sent.problem} />;
  if (sent.value === undefined) return <p>{t('common.loading')}</p>;
  return (
    <table className="data-table customers-documents" aria-label={t('customers.documents')}>
      <thead>
        <tr>
          <th scope="col">{t('customers.document.kind')}</th>
          <th scope="col">{t('customers.document.mediaType')}</th>
          <th scope="col" className="num">
            {t('customers.document.size')}
          </th>
          <th scope="col">{t('customers.document.sentAt')}</th>
        </tr>
      </thead>
      <tbody>
        {sent.value.data.map((document) => (
          <tr key={document.id} data-testid="document" data-kind={document.kind}>
            <td>{t(`customers.documentKind.${document.kind}`)}</td>
            <td>{document.mediaType}</td>
            <td className="num">
              {t('customers.document.bytes', { count: number(document.sizeBytes) })}
            </td>
            <td>{dateTime(document.createdAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const BADGE: Record<Customer['review']['status'], string> = {
  none: '',
  pending: 'warn',
  approved: 'ok',
  rejected: 'bad',
};
