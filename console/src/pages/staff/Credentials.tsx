/**
 * API clients (`/v1/api-clients`) and API keys (`/v1/api-keys`): the list without secrets,
 * creation with a name and scopes (the new secret shown once, in this answer only), revocation.
 */
import { type FormEvent, useState } from 'react';
import { api } from '../../app/api.ts';
import { useI18n } from '../../app/i18n.tsx';
import { LoadMore, usePagedList } from '../../app/paging.tsx';
import { Guard, NeedsNote, ProblemBanner, useCan } from '../../app/ui.tsx';
import type { Credential } from './types.ts';

type Kind = 'api_key' | 'client';

const PATHS: Record<Kind, string> = { api_key: '/v1/api-keys', client: '/v1/api-clients' };

type Created = Credential & { readonly apiKey?: string | null; readonly clientSecret?: string };

export function CredentialsPanel({ kind, scopes }: { kind: Kind; scopes: readonly string[] }) {
  const { t } = useI18n();
  // Listing, creating and revoking all need identity:admin: without it, nothing is read.
  const allowed = useCan()('identity:admin');
  const list = usePagedList<Credential>(allowed ? PATHS[kind] : null);
  const [created, setCreated] = useState<Created | null>(null);
  const [problem, setProblem] = useState<unknown>(null);
  const revoke = async (id: string) => {
    setProblem(null);
    try {
      await api('POST', `${PATHS[kind]}/${id}/revoke`);
      list.reload();
    } catch (error) {
      setProblem(error);
    }
  };
  const secret = created ? (created.apiKey ?? created.clientSecret ?? null) : null;
  if (!allowed)
    return (
      <section className="panel" aria-labelledby={`${kind}-title`} data-testid={`panel-${kind}`}>
        <h2 id={`${kind}-title`}>{t(`staff.${kind}.title`)}</h2>
        <NeedsNote needs="identity:admin" />
      </section>
    );
  return (
    <section className="panel" aria-labelledby={`${kind}-title`} data-testid={`panel-${kind}`}>
      <h2 id={`${kind}-title`}>{t(`staff.${kind}.title`)}</h2>
      <CreateForm
        kind={kind}
        scopes={scopes}
        onCreated={(answer) => {
          setCreated(answer);
          list.reload();
        }}
      />
      {created ? (
        <div className="staff-secret" role="status" data-testid={`secret-${kind}`}>
          <strong>{t(`staff.${kind}.created`, { name: created.name, id: created.id })}</strong>
          {secret ? <code data-testid={`secret-value-${kind}`}>{secret}</code> : null}
          <p>{secret ? t('staff.secret.once') : t('staff.secret.replayed')}</p>
          <button type="button" className="secondary" onClick={() => setCreated(null)}>
            {t('staff.secret.dismiss')}
          </button>
        </div>
      ) : null}
      <ProblemBanner problem={list.problem ?? problem} />
      <CredentialTable kind={kind} rows={list.rows} onRevoke={(id) => void revoke(id)} />
      <div className="form-row">
        <LoadMore list={list} />
      </div>
    </section>
  );
}

function CreateForm({
  kind,
  scopes,
  onCreated,
}: {
  kind: Kind;
  scopes: readonly string[];
  onCreated: (created: Created) => void;
}) {
  const { t } = useI18n();
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      onCreated(await api<Created>('POST', PATHS[kind], { body: { name, scopes: chosen } }));
      setName('');
      setChosen([]);
    } catch (error) {
      setProblem(error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={(event) => void submit(event)}>
      <div className="form-row">
        <label>
          {t('staff.credential.name')}
          <input
            name={`${kind}-name`}
            value={name}
            maxLength={200}
            required
            onChange={(event) => setName(event.target.value)}
          />
        </label>
        <label>
          {t('staff.credential.scopes')}
          <select
            name={`${kind}-scopes`}
            multiple
            size={5}
            value={chosen}
            onChange={(event) =>
              setChosen([...event.target.selectedOptions].map((option) => option.value))
            }
          >
            {scopes.map((scope) => (
              <option key={scope} value={scope}>
                {scope}
              </option>
            ))}
          </select>
        </label>
        <Guard needs="identity:admin" note>
          <button type="submit" disabled={busy || name.trim() === '' || chosen.length === 0}>
            {t(`staff.${kind}.create`)}
          </button>
        </Guard>
      </div>
      <ProblemBanner problem={problem} />
    </form>
  );
}

function CredentialTable({
  kind,
  rows,
  onRevoke,
}: {
  kind: Kind;
  rows: readonly Credential[] | undefined;
  onRevoke: (id: string) => void;
}) {
  const { t, dateTime } = useI18n();
  if (rows === undefined) return <p>{t('common.loading')}</p>;
  if (rows.length === 0) return <p className="empty">{t('table.empty')}</p>;
  return (
    <table className="data-table" aria-label={t(`staff.${kind}.title`)}>
      <thead>
        <tr>
          <th scope="col">{t('staff.credential.name')}</th>
          <th scope="col">{t('staff.credential.id')}</th>
          <th scope="col">{t('staff.credential.scopes')}</th>
          <th scope="col">{t('staff.credential.createdAt')}</th>
          {kind === 'api_key' ? <th scope="col">{t('staff.credential.lastUsed')}</th> : null}
          <th scope="col">{t('staff.credential.state')}</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.id} data-testid={`row-${kind}`} data-name={row.name}>
            <td>{row.name}</td>
            <td>
              <code>{row.id}</code>
            </td>
            <td title={row.scopes.join(' ')}>
              {t('staff.credential.scopeCount', { count: row.scopes.length })}
            </td>
            <td>{dateTime(row.createdAt)}</td>
            {kind === 'api_key' ? <td>{row.lastUsedAt ? dateTime(row.lastUsedAt) : '—'}</td> : null}
            <td>
              {row.revokedAt ? (
                <span className="badge bad">
                  {t('staff.credential.revokedAt', { at: dateTime(row.revokedAt) })}
                </span>
              ) : (
                <RevokeButton name={row.name} onRevoke={() => onRevoke(row.id)} />
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Revoking takes two steps: the first click asks, the second revokes. */
function RevokeButton({ name, onRevoke }: { name: string; onRevoke: () => void }) {
  const { t } = useI18n();
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <Guard needs="identity:admin">
        <button
          type="button"
          className="danger"
          aria-label={t('staff.credential.revokeNamed', { name })}
          onClick={() => setAsking(true)}
        >
          {t('staff.credential.revoke')}
        </button>
      </Guard>
    );
  return (
    <>
      <button type="button" className="danger" onClick={onRevoke}>
        {t('staff.credential.confirmRevoke', { name })}
      </button>{' '}
      <button type="button" className="secondary" onClick={() => setAsking(false)}>
        {t('staff.credential.cancel')}
      </button>
    </>
  );
}
