/**
 * What waits for a second person: ops runs stopped before a sensitive step, and re-seed requests
 * held by the approval gate. Each can be approved (with an optional reason) or rejected (with a
 * reason); the API refuses the person who started it, and the page shows its problem.
 */
import { type ReactNode, useState } from 'react';
import { useI18n } from '../../app/i18n.tsx';
import { Guard, ProblemBanner } from '../../app/ui.tsx';
import { useAction } from './action.ts';
import type { ApprovalRequest, Run } from './types.ts';
import { useWho } from './who.ts';

function DecisionRow({
  testId,
  heading,
  children,
  base,
}: {
  testId: string;
  heading: ReactNode;
  children: ReactNode;
  /** The request's path; `/approve` and `/reject` are added. */
  base: string;
}) {
  const { t } = useI18n();
  const action = useAction();
  const [reason, setReason] = useState('');
  const [needsReason, setNeedsReason] = useState(false);
  const approve = () => {
    setNeedsReason(false);
    void action.send('POST', `${base}/approve`, reason.trim() ? { reason: reason.trim() } : {});
  };
  const reject = () => {
    if (!reason.trim()) {
      action.clear();
      setNeedsReason(true);
      return;
    }
    setNeedsReason(false);
    void action.send('POST', `${base}/reject`, { reason: reason.trim() });
  };
  const reasonId = `reason-${testId}`;
  return (
    <li className="decision" data-testid={testId}>
      <div className="decision-heading">{heading}</div>
      <div className="decision-detail">{children}</div>
      <div className="form-row">
        <label htmlFor={reasonId}>
          {t('operations.decision.reason')}
          <input
            id={reasonId}
            value={reason}
            maxLength={500}
            onChange={(event) => setReason(event.target.value)}
            aria-invalid={needsReason}
          />
        </label>
        <Guard needs="approvals:decide">
          <button type="button" onClick={approve} disabled={action.busy}>
            {t('operations.decision.approve')}
          </button>
          <button type="button" className="danger" onClick={reject} disabled={action.busy}>
            {t('operations.decision.reject')}
          </button>
        </Guard>
      </div>
      {needsReason ? (
        <p className="field-error" role="alert">
          {t('operations.decision.reasonNeeded')}
        </p>
      ) : null}
      <ProblemBanner problem={action.problem} />
    </li>
  );
}

function WaitingRun({ run }: { run: Run }) {
  const { t, dateTime } = useI18n();
  const who = useWho();
  const step = run.steps.find((s) => s.status === 'waiting_approval');
  return (
    <DecisionRow
      testId={`waiting-${run.id}`}
      base={`/v1/ops/runs/${encodeURIComponent(run.id)}`}
      heading={
        <>
          <strong>{run.workflow}</strong> <code>{run.id}</code>
        </>
      }
    >
      {t('operations.waiting.step', { step: step?.name ?? '?' })}
      {' · '}
      {t('operations.startedBy', { who: who(run.startedBy) })}
      {' · '}
      {dateTime(run.createdAt)}
      {step?.approverRoles?.length
        ? ` · ${t('operations.waiting.roles', { roles: step.approverRoles.join(', ') })}`
        : null}
    </DecisionRow>
  );
}

function WaitingReseed({ request }: { request: ApprovalRequest }) {
  const { t, dateTime } = useI18n();
  const who = useWho();
  const dc = (request.body as { dataCentre?: string } | null)?.dataCentre ?? '?';
  return (
    <DecisionRow
      testId={`waiting-${request.id}`}
      base={`/v1/approvals/${encodeURIComponent(request.id)}`}
      heading={
        <>
          <strong>{t('operations.reseed.of', { dc })}</strong> <code>{request.id}</code>
        </>
      }
    >
      {t('operations.startedBy', { who: who(request.requestedBy) })}
      {' · '}
      {dateTime(request.requestedAt)}
      {' · '}
      {t('operations.waiting.expires', { at: dateTime(request.expiresAt) })}
    </DecisionRow>
  );
}

export function Approvals({
  runs,
  reseeds,
}: {
  runs: readonly Run[] | undefined;
  reseeds: readonly ApprovalRequest[] | undefined;
}) {
  const { t } = useI18n();
  const pending = (reseeds ?? []).filter(
    (request) => request.status === 'pending' && Date.parse(request.expiresAt) > Date.now(),
  );
  const count = (runs?.length ?? 0) + pending.length;
  return (
    <section className="panel" aria-labelledby="waiting-title">
      <h2 id="waiting-title">
        {t('operations.waiting.title')}{' '}
        <span className={count > 0 ? 'badge warn' : 'badge'} data-testid="waiting-count">
          {count}
        </span>
      </h2>
      {runs === undefined ? <p className="empty">{t('operations.loading')}</p> : null}
      {runs !== undefined && count === 0 ? (
        <p className="empty">{t('operations.waiting.none')}</p>
      ) : null}
      <ul className="decisions">
        {(runs ?? []).map((run) => (
          <WaitingRun key={run.id} run={run} />
        ))}
        {pending.map((request) => (
          <WaitingReseed key={request.id} request={request} />
        ))}
      </ul>
    </section>
  );
}
