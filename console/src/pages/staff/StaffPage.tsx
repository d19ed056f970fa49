/**
 * The staff page: members and their roles (a role grant waits for a second admin), the
 * sensitive requests waiting for a second person (live, from the stream's `approvals` topic),
 * API keys and API clients.
 */
import { useCallback, useEffect, useMemo } from 'react';
import { useI18n } from '../../app/i18n.tsx';
import { LoadMore, usePagedList } from '../../app/paging.tsx';
import { useSession } from '../../app/session.tsx';
import { useStream } from '../../app/stream.ts';
import { Page, ProblemBanner } from '../../app/ui.tsx';
import { ApprovalsPanel } from './Approvals.tsx';
import { CredentialsPanel } from './Credentials.tsx';
import { RoleGrantForm, StaffTable } from './StaffMembers.tsx';
import type { ApprovalsTopic, StaffMember } from './types.ts';
import './staff.css';

export function StaffPage() {
  const { t } = useI18n();
  const staff = usePagedList<StaffMember>('/v1/staff');
  // The session read the person's scopes once; the key and client forms offer those.
  const { scopes } = useSession();
  const grantable = useMemo(() => [...(scopes ?? [])].sort(), [scopes]);
  const { approvals } = useStream<{ approvals: ApprovalsTopic }>(['approvals']);
  const members = staff.rows;
  const names = useMemo(
    () => new Map((members ?? []).map((member) => [member.id, member.username])),
    [members],
  );
  const nameOf = useCallback((id: string) => names.get(id) ?? id, [names]);
  // A decided request may have changed someone's roles: read the members again.
  const decided = approvals?.decided.map((a) => `${a.id}:${a.status}`).join(',');
  const reload = staff.reload;
  useEffect(() => {
    if (decided !== undefined) reload();
  }, [decided, reload]);
  return (
    <Page title={t('staff.title')}>
      <ApprovalsPanel live={approvals} nameOf={nameOf} />
      <section className="panel" aria-labelledby="members-title">
        <h2 id="members-title">{t('staff.members.title')}</h2>
        <ProblemBanner problem={staff.problem} />
        <StaffTable members={members} />
        <div className="form-row">
          <LoadMore list={staff} />
        </div>
        {members ? <RoleGrantForm members={members} live={approvals} /> : null}
      </section>
      <CredentialsPanel kind="api_key" scopes={grantable} />
      <CredentialsPanel kind="client" scopes={grantable} />
    </Page>
  );
}
