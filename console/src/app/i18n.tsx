/**
 * zh-CN and en throughout (decision 61). Messages are plain objects per language, the shell's
 * here and each page's in its own folder (`messages.ts`), merged at start; a missing key shows
 * the English text, then the key itself. The choice is remembered per staff member (in this
 * browser's storage, under their id). Amounts are formatted from integer minor units, never
 * through a floating-point number; dates and numbers in the chosen locale.
 */
import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from 'react';

export const LOCALES = ['en', 'zh-CN'] as const;
export type Locale = (typeof LOCALES)[number];
export type Messages = Readonly<Record<string, string>>;
export type MessageSet = Readonly<Record<Locale, Messages>>;

const catalogue: Record<Locale, Record<string, string>> = { en: {}, 'zh-CN': {} };

/** Adds a set of messages (a page's). Later keys win. */
export function addMessages(set: MessageSet): void {
  for (const locale of LOCALES) Object.assign(catalogue[locale], set[locale]);
}

export interface I18n {
  readonly locale: Locale;
  setLocale(locale: Locale): void;
  /** The message `key`, with `{name}` replaced from `vars`. */
  t(key: string, vars?: Readonly<Record<string, string | number>>): string;
  /** An amount in `currency` from integer minor units (number or decimal string). */
  money(minor: number | string | bigint, currency: string): string;
  number(value: number): string;
  /** A date-time (ISO text or epoch ms) in the locale, with seconds. */
  dateTime(value: string | number | Date): string;
}

const I18nContext = createContext<I18n | null>(null);

const storageKey = (who: string) => `mainstay.console.locale.${who}`;

export function storedLocale(who: string): Locale {
  const stored = globalThis.localStorage?.getItem(storageKey(who));
  if (stored === 'en' || stored === 'zh-CN') return stored;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export function I18nProvider({ who, children }: { who: string; children: ReactNode }) {
  const [locale, setLocaleState] = useState<Locale>(() => storedLocale(who));
  const setLocale = useCallback(
    (next: Locale) => {
      localStorage.setItem(storageKey(who), next);
      document.documentElement.lang = next;
      setLocaleState(next);
    },
    [who],
  );
  const value = useMemo(() => makeI18n(locale, setLocale), [locale, setLocale]);
  document.documentElement.lang = locale;
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const i18n = useContext(I18nContext);
  if (i18n === null) throw new Error('useI18n outside I18nProvider');
  return i18n;
}

export function makeI18n(locale: Locale, setLocale: (locale: Locale) => void): I18n {
  const numbers = new Intl.NumberFormat(locale);
  const dates = new Intl.DateTimeFormat(locale, {
    dateStyle: 'medium',
    timeStyle: 'medium',
  });
  return {
    locale,
    setLocale,
    t(key, vars) {
      let text = catalogue[locale][key] ?? catalogue.en[key] ?? key;
      for (const [name, value] of Object.entries(vars ?? {}))
        text = text.replaceAll(`{${name}}`, String(value));
      return text;
    },
    money(minor, currency) {
      return formatMoney(locale, minor, currency);
    },
    number(value) {
      return numbers.format(value);
    },
    dateTime(value) {
      return dates.format(new Date(value));
    },
  };
}

/** `minor` units of `currency` as the locale writes them; exact for any integer size. */
export function formatMoney(locale: Locale, minor: number | string | bigint, currency: string) {
  let format: Intl.NumberFormat;
  try {
    format = new Intl.NumberFormat(locale, { style: 'currency', currency });
  } catch {
    return `${String(minor)} ${currency}`;
  }
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  const units = BigInt(minor);
  const negative = units < 0n;
  const text = (negative ? -units : units).toString().padStart(digits + 1, '0');
  const decimal =
    digits === 0 ? text : `${text.slice(0, text.length - digits)}.${text.slice(-digits)}`;
  // A decimal string keeps every digit (Intl formats strings exactly).
  return format.format(`${negative ? '-' : ''}${decimal}` as unknown as number);
}
