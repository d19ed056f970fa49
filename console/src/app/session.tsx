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
    <SessionContext.Provider value={{ staff: session?.staff ?? null, login, logout }}>
      {children}
    </SessionContext.Provider>
  );
}

export function useSession(): SessionState {
  const session = useContext(SessionContext);
  if (session === null) throw new Error('useSession outside SessionProvider');
  return session;
}
