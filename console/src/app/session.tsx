/**
 * The staff session: log in with username, password and TOTP code (`POST /v1/staff/sessions`),
 * keep the bearer token for this tab (`sessionStorage`, so a reload stays logged in and a closed
 * tab does not), log out (`DELETE /v1/staff/sessions/current`). A 401 from any call ends it.
 */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from 'react';
import { api, setToken, whenUnauthenticated } from './api.ts';

export interface Staff {
  readonly id: string;
  readonly username: string;
  readonly roles: readonly string[];
}

interface StaffSession {
  readonly token: string;
  readonly expiresAt: string;
  readonly staff: Staff;
}

export interface SessionState {
  readonly staff: Staff | null;
  /**
   * The scopes the session's roles grant (`GET /v1/staff/sessions/current`), `null` until they
   * are read. Pages offer an action only to someone whose scopes allow it; the API decides.
   */
  readonly scopes: ReadonlySet<string> | null;
  login(username: string, password: string, code: string): Promise<void>;
  logout(): Promise<void>;
}

const KEY = 'mainstay.console.session';
const SessionContext = createContext<SessionState | null>(null);

function restore(): StaffSession | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as StaffSession | null;
    if (saved && Date.parse(saved.expiresAt) > Date.now()) return saved;
  } catch {
    // A damaged entry is a logged-out tab.
  }
  return null;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<StaffSession | null>(() => {
    const saved = restore();
    setToken(saved?.token ?? null);
    return saved;
  });
  const end = useCallback(() => {
    sessionStorage.removeItem(KEY);
    setToken(null);
    setSession(null);
  }, []);
  useEffect(() => whenUnauthenticated(end), [end]);
  const [scopes, setScopes] = useState<ReadonlySet<string> | null>(null);
  const token = session?.token ?? null;
  useEffect(() => {
    setScopes(null);
    if (token === null) return;
    const abort = new AbortController();
    api<{ scopes: readonly string[] }>('GET', '/v1/staff/sessions/current', {
      signal: abort.signal,
    }).then(
      (me) => setScopes(new Set(me.scopes)),
      () => undefined,
    );
    return () => abort.abort();
  }, [token]);
  const login = useCallback(async (username: string, password: string, code: string) => {
    const started = await api<StaffSession>('POST', '/v1/staff/sessions', {
      body: { username, password, code },
    });
    sessionStorage.setItem(KEY, JSON.stringify(started));
    setToken(started.token);
    setSession(started);
  }, []);
  const logout = useCallback(async () => {
    await api('DELETE', '/v1/staff/sessions/current').catch(() => undefined);
    end();
  }, [end]);
  return (
    <SessionContext.Provider value={{ staff: session?.staff ?? null, scopes, login, logout }}>
      {children}
    </SessionContext.Provider>
  );
}

export function useSession(): SessionState {
  const session = useContext(SessionContext);
  if (session === null) throw new Error('useSession outside SessionProvider');
  return session;
}
