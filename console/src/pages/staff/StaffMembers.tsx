/**
 * Staff members with their roles (`GET /v1/staff`), and the role grant
 * (`POST /v1/staff/{staffId}/roles`): maker-checker, so the answer is a request that waits for a
 * second admin, shown as such until it is decided.
 */
import { type FormEvent, useEffect, useState } from 'react';
import { api } from '../../app/api.ts';
import { useI18n } from '../../app/i18n.tsx';
import { Guard, ProblemBanner } from '../../app/ui.tsx';
import { StatusBadge } from './Approvals.tsx';
import { type Approval, STAFF_ROLES, type StaffMember } from './types.ts';

export function StaffTable({ members }: { members: readonly StaffMember[] | undefined }) {
  const { t, dateTime } = useI18n();
  if (members === undefined) return <p>{t('common.loading')}</p>;
  return (
    <table className="data-table" aria-label={t('staff.members.title')}>
      <thead>
        <tr>
          <th scope="col">{t('staff.members.username')}</th>
          <th scope="col">{t('staff.members.displayName')}</th>
          <th scope="col">{t('staff.members.roles')}</th>
          <th scope="col">{t('staff.members.createdAt')}</th>
          <th scope="col">{t('staff.members.locked')}</th>
        </tr>
      </thead>
      <tbody>
        {members.map((member) => (
          <tr key={member.id} data-testid="staff-member" data-username={member.username}>
            <td>{member.username}</td>
            <td>{member.displayName}</td>
            <td data-testid={`roles-${member.username}`}>
              {member.roles.map((role) => (
                <span key={role} className="badge" data-role={role}>
                  {t(`staff.role.${role}`)}
                </span>
              ))}
            </td>
            <td>{dateTime(member.createdAt)}</td>
            <td>
              {member.lockedUntil && Date.parse(member.lockedUntil) > Date.now()
                ? t('staff.members.lockedUntil', { at: dateTime(member.lockedUntil) })
                : '—'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * Asks for a member's roles to be replaced. The request waits for another admin: its state
 * follows `live` (the stream's waiting and decided requests) until it is decided.
 */
export function RoleGrantForm({
  members,
  live,
}: {
  members: readonly StaffMember[];
  live: { data: readonly Approval[]; decided: readonly Approval[] } | undefined;
}) {
  const { t } = useI18n();
  const [staffId, setStaffId] = useState('');
  const [roles, setRoles] = useState<readonly string[]>([]);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<unknown>(null);
  const [asked, setAsked] = useState<Approval | null>(null);
  const chosen = members.find((member) => member.id === staffId);
  // The boxes start from the member's roles, and follow them when they change.
  const held = chosen?.roles.join(',');
  useEffect(() => {
    if (held !== undefined) setRoles(held === '' ? [] : held.split(','));
  }, [held]);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      setAsked(await api<Approval>('POST', `/v1/staff/${staffId}/roles`, { body: { roles } }));
    } catch (error) {
      setProblem(error);
    } finally {
      setBusy(false);
    }
  };
  const toggle = (role: string, on: boolean) =>
    setRoles((old) => (on ? [...old, role] : old.filter((r) => r !== role)));
  const current = asked
    ? ([...(live?.data ?? []), ...(live?.decided ?? [])].find((a) => a.id === asked.id) ?? asked)
    : null;
  return (
    <form onSubmit={(event) => void submit(event)} aria-labelledby="grant-title">
      <h3 id="grant-title">{t('staff.grant.title')}</h3>
      <div className="form-row">
        <label>
          {t('staff.grant.member')}
          <select value={staffId} onChange={(event) => setStaffId(event.target.value)} required>
            <option value="">{t('staff.grant.choose')}</option>
            {members.map((member) => (
              <option key={member.id} value={member.id}>
                {member.username}
              </option>
            ))}
          </select>
        </label>
        <fieldset className="staff-roles">
          <legend>{t('staff.grant.roles')}</legend>
          {STAFF_ROLES.map((role) => (
            <label key={role}>
              <input
                type="checkbox"
                checked={roles.includes(role)}
                onChange={(event) => toggle(role, event.target.checked)}
              />
              {t(`staff.role.${role}`)}
            </label>
          ))}
        </fieldset>
        <Guard needs="identity:admin" note>
          <button type="submit" disabled={busy || staffId === '' || roles.length === 0}>
            {t('staff.grant.submit')}
          </button>
        </Guard>
      </div>
      <ProblemBanner problem={problem} />
      {current ? (
        <p className="staff-note" role="status" data-testid="grant-state">
          <StatusBadge status={current.status} />{' '}
          {current.status === 'pending'
            ? t('staff.grant.waiting', { id: current.id })
            : t('staff.grant.decided', { id: current.id })}
        </p>
      ) : null}
    </form>
  );
}
