/**
 * The sensitive requests waiting for a second person (the stream's `approvals` topic, so a new
 * one shows without a reload), each with approve and reject (with a reason) for anyone but its
 * maker, and the requests decided last with what became of them.
 */
import { useState } from 'react';
import { api } from '../../app/api.ts';
import { useI18n } from '../../app/i18n.tsx';
import { useSession } from '../../app/session.tsx';
import { DecisionRow, Figure, ProblemBanner } from '../../app/ui.tsx';
import type { Approval, ApprovalsTopic, NameOf } from './types.ts';

const STATUS_BADGE: Record<Approval['status'], string> = {
  pending: 'warn',
  approved: 'ok',
  executed: 'ok',
  rejected: 'bad',
  failed: 'bad',
  expired: 'bad',
};

export function StatusBadge({ status }: { status: Approval['status'] }) {
  const { t } = useI18n();
  return (
    <span className={`badge ${STATUS_BADGE[status]}`} data-status={status}>
      {t(`staff.approvals.status.${status}`)}
    </span>
  );
}

/** What a request asks for, in words: a role grant names its member and roles. */
export function useDescribe(nameOf: NameOf): (approval: Approval) => string {
  const { t } = useI18n();
  return (approval) => {
    const grant = /^\/v1\/staff\/([^/]+)\/roles$/.exec(approval.path);
    const roles = (approval.body as { roles?: unknown } | null)?.roles;
    if (approval.action === 'role_grant' && grant?.[1] && Array.isArray(roles))
      return t('staff.approvals.roleGrant', {
        name: nameOf(grant[1]),
        roles: roles.map((role) => t(`staff.role.${String(role)}`)).join(', '),
      });
    return t('staff.approvals.action', { action: approval.action });
  };
}

export function ApprovalsPanel({
  live,
  nameOf,
}: {
  live: ApprovalsTopic | undefined;
  nameOf: NameOf;
}) {
  const { t, number } = useI18n();
  return (
    <section className="panel" aria-labelledby="approvals-title">
      <h2 id="approvals-title">{t('staff.approvals.title')}</h2>
      <div className="figures">
        <Figure
          label={t('staff.approvals.waiting')}
          value={live === undefined ? '…' : number(live.count)}
          testId="approvals-waiting"
        />
      </div>
      {live === undefined ? (
        <p>{t('common.loading')}</p>
      ) : live.data.length === 0 ? (
        <p className="empty">{t('staff.approvals.none')}</p>
      ) : (
        <ul className="staff-list">
          {live.data.map((approval) => (
            <ApprovalItem key={approval.id} approval={approval} nameOf={nameOf} />
          ))}
        </ul>
      )}
      {live && live.decided.length > 0 ? <Decided rows={live.decided} nameOf={nameOf} /> : null}
    </section>
  );
}

function ApprovalItem({ approval, nameOf }: { approval: Approval; nameOf: NameOf }) {
  const { t, dateTime } = useI18n();
  const { staff: me } = useSession();
  const describe = useDescribe(nameOf);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<unknown>(null);
  const mine = approval.requestedBy === me?.id;
  const decide = async (verb: 'approve' | 'reject') => {
    setBusy(true);
    setProblem(null);
    try {
      await api('POST', `/v1/approvals/${approval.id}/${verb}`, {
        ...(verb === 'reject' ? { body: { reason: reason.trim() } } : {}),
      });
    } catch (error) {
      setProblem(error);
    } finally {
      setBusy(false);
    }
  };
  const reasonId = `reason-${approval.id}`;
  return (
    <li className="staff-item" data-testid="approval" data-approval-id={approval.id}>
      <div className="staff-item-head">
        <strong>{describe(approval)}</strong> <StatusBadge status={approval.status} />
      </div>
      <div className="staff-muted">
        {t('staff.approvals.requested', {
          name: nameOf(approval.requestedBy),
          at: dateTime(approval.requestedAt),
          expires: dateTime(approval.expiresAt),
        })}
      </div>
      <code className="staff-code">
        {approval.method} {approval.path} {JSON.stringify(approval.body)}
      </code>
      {mine ? (
        <p className="staff-muted">{t('staff.approvals.mine')}</p>
      ) : (
        <DecisionRow
          needs="approvals:decide"
          id={reasonId}
          reason={reason}
          onReason={setReason}
          busy={busy}
          maxLength={500}
          labels={{
            approve: t('staff.approvals.approve'),
            reason: t('staff.approvals.reason'),
            reject: t('staff.approvals.reject'),
          }}
          onDecide={(decision) => void decide(decision)}
        />
      )}
      <ProblemBanner problem={problem} />
    </li>
  );
}

function Decided({ rows, nameOf }: { rows: readonly Approval[]; nameOf: NameOf }) {
  const { t, dateTime } = useI18n();
  const describe = useDescribe(nameOf);
  return (
    <>
      <h3>{t('staff.approvals.decided')}</h3>
      <table className="data-table" aria-label={t('staff.approvals.decided')}>
        <thead>
          <tr>
            <th scope="col">{t('staff.approvals.request')}</th>
            <th scope="col">{t('staff.approvals.requestedBy')}</th>
            <th scope="col">{t('staff.approvals.decidedBy')}</th>
            <th scope="col">{t('staff.approvals.decidedAt')}</th>
            <th scope="col">{t('staff.approvals.outcome')}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((approval) => (
            <tr key={approval.id} data-testid="decided" data-approval-id={approval.id}>
              <td>{describe(approval)}</td>
              <td>{nameOf(approval.requestedBy)}</td>
              <td>{approval.decidedBy ? nameOf(approval.decidedBy) : '—'}</td>
              <td>{approval.decidedAt ? dateTime(approval.decidedAt) : '—'}</td>
              <td>
                <StatusBadge status={approval.status} />
                {approval.reason ? ` ${approval.reason}` : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
