/**
 * Staff named by their username instead of their id: each id read once (`GET /v1/staff/{id}`)
 * and remembered for the page's life; an id that is not a member of staff (an API key) or
 * cannot be read stays as it is.
 */
import { useEffect, useState } from 'react';
import { api } from '../../app/api.ts';
import { useI18n } from '../../app/i18n.tsx';
import { useSession } from '../../app/session.tsx';

const names = new Map<string, string | null>();
const listeners = new Set<() => void>();

function learn(id: string): void {
  names.set(id, null);
  api<{ username: string }>('GET', `/v1/staff/${encodeURIComponent(id)}`).then(
    (staff) => {
      names.set(id, staff.username);
      for (const listener of listeners) listener();
    },
    () => undefined,
  );
}

/** A person's username (or id until known, or for what is not staff); "you" for oneself. */
export function useWho(): (id: string) => string {
  const { staff } = useSession();
  const { t } = useI18n();
  const [, setVersion] = useState(0);
  useEffect(() => {
    const changed = () => setVersion((n) => n + 1);
    listeners.add(changed);
    return () => {
      listeners.delete(changed);
    };
  }, []);
  return (id) => {
    if (id === staff?.id) return t('operations.you', { name: staff.username });
    if (!names.has(id) && id.startsWith('stf_')) queueMicrotask(() => names.has(id) || learn(id));
    return names.get(id) ?? id;
  };
}
