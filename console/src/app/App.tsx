/**
 * The shell: the login form until a staff member logs in; then the navigation, the page of the
 * URL's hash (`#/overview`...), the language switch and the live connection's state.
 */
import { type FormEvent, useEffect, useState } from 'react';
import {
  addMessages,
  I18nProvider,
  LOCALES,
  type Locale,
  makeI18n,
  storedLocale,
  useI18n,
} from './i18n.tsx';
import { SHELL_MESSAGES } from './messages.ts';
import { PAGES } from './pages.ts';
import { SessionProvider, useSession } from './session.tsx';
import { useConnection } from './stream.ts';
import { ProblemBanner } from './ui.tsx';

addMessages(SHELL_MESSAGES);
for (const page of PAGES) addMessages(page.messages);

export function App() {
  return (
    <SessionProvider>
      <Gate />
    </SessionProvider>
  );
}

function Gate() {
  const { staff } = useSession();
  if (staff === null) return <Login />;
  return (
    <I18nProvider who={staff.id}>
      <Shell />
    </I18nProvider>
  );
}

function Login() {
  const { login } = useSession();
  // Before login the browser's language decides (no one to remember it for yet).
  const [locale, setLocale] = useState<Locale>(() => storedLocale('anonymous'));
  const { t } = makeI18n(locale, setLocale);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<unknown>(null);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setProblem(null);
    try {
      await login(
        String(form.get('username')),
        String(form.get('password')),
        String(form.get('code')),
      );
    } catch (error) {
      setProblem(error);
      setBusy(false);
    }
  };
  return (
    <I18nProvider who="anonymous">
      <main className="login">
        <form onSubmit={submit} aria-labelledby="login-title">
          <h1 id="login-title">{t('login.title')}</h1>
          <label>
            {t('login.username')}
            <input name="username" autoComplete="username" required />
          </label>
          <label>
            {t('login.password')}
            <input name="password" type="password" autoComplete="current-password" required />
          </label>
          <label>
            {t('login.code')}
            <input name="code" inputMode="numeric" autoComplete="one-time-code" required />
          </label>
          <button type="submit" disabled={busy}>
            {busy ? t('login.busy') : t('login.submit')}
          </button>
          <ProblemBanner problem={problem} />
        </form>
      </main>
    </I18nProvider>
  );
}

function readHashPage(): string {
  return window.location.hash.replace(/^#\/?/, '').split('/')[0] || 'overview';
}

function useHashPage(): string {
  const [page, setPage] = useState(readHashPage);
  useEffect(() => {
    const changed = () => setPage(readHashPage());
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return page;
}

function Shell() {
  const { staff, logout } = useSession();
  const { t, locale, setLocale } = useI18n();
  const id = useHashPage();
  const page = PAGES.find((entry) => entry.id === id) ?? (PAGES[0] as (typeof PAGES)[number]);
  const connection = useConnection();
  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">{t('app.name')}</span>
        <span
          className={`connection connection-${connection}`}
          role="status"
          data-testid="connection"
        >
          {t(`connection.${connection}`)}
        </span>
        <span className="who">{t('shell.signedInAs', { name: staff?.username ?? '' })}</span>
        <label className="language">
          {t('shell.language')}
          <select
            value={locale}
            onChange={(event) => setLocale(event.target.value as Locale)}
            data-testid="language"
          >
            {LOCALES.map((code) => (
              <option key={code} value={code}>
                {code === 'en' ? 'English' : '简体中文'}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => void logout()}>
          {t('shell.logout')}
        </button>
      </header>
      <nav aria-label={t('nav.label')} className="sidebar">
        <ul>
          {PAGES.map((entry) => (
            <li key={entry.id}>
              <a href={`#/${entry.id}`} aria-current={entry.id === page.id ? 'page' : undefined}>
                {t(entry.titleKey)}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main className="content">
        <page.Component key={page.id} />
      </main>
    </div>
  );
}
