/**
 * The ledger page's wire shapes (as the public API answers them: money in integer minor units)
 * and its helpers: an amount typed by a person turned into exact minor units, and a file
 * fetched with the session's credential.
 */
import { currentToken, Problem } from '../../app/api.ts';

export interface LedgerAccount {
  readonly id: string;
  readonly currency: string;
  readonly kind: string;
  readonly ownerId: string | null;
  readonly guard: string;
  readonly closed: boolean;
  readonly code: string | null;
  readonly stripe: number | null;
  readonly debitsPosted: number;
  readonly creditsPosted: number;
  readonly debitsPending: number;
  readonly creditsPending: number;
  readonly balance: number;
  readonly available: number;
  readonly postingCount: number;
}

export interface StatementLine {
  readonly seq: number;
  readonly transferId: string;
  readonly postedAt: string;
  readonly debit: number;
  readonly credit: number;
  readonly debitPending: number;
  readonly creditPending: number;
  readonly balance: number;
}

export interface SettlementWindow {
  readonly id: string;
  readonly counterparty: string;
  readonly number: number;
  readonly state: 'open' | 'closed' | 'pending_settlement' | 'settled';
  readonly openedAt: string;
  readonly closedAt: string | null;
  readonly settledAt: string | null;
  readonly reserveBasisPoints: number | null;
  readonly shardCount: number;
  readonly shardsClosed: number;
  readonly shardsSettled: number;
}

export interface WindowPosition {
  readonly currency: string;
  readonly debits: number;
  readonly credits: number;
  readonly net: number;
  readonly transferCount: number;
  readonly reserve: number;
  readonly settlementAmount: number;
}

export interface WindowReport {
  readonly window: SettlementWindow;
  readonly positions: readonly WindowPosition[];
}

export interface EndOfDayBreak {
  readonly kind: string;
  readonly shardId: number | null;
  readonly subject: string;
  readonly expected: string;
  readonly actual: string;
}

export interface EndOfDayReport {
  readonly asOf: string;
  readonly ok: boolean;
  readonly trialBalance: readonly {
    readonly currency: string;
    readonly debitsPosted: number;
    readonly creditsPosted: number;
    readonly debitsPending: number;
    readonly creditsPending: number;
  }[];
  readonly checks: readonly {
    readonly name: string;
    readonly ok: boolean;
    readonly breakCount: number;
    readonly breaks: readonly EndOfDayBreak[];
  }[];
}

/** The number of minor-unit digits of `currency` (2 when the browser does not know it). */
export function minorDigits(currency: string): number {
  try {
    const format = new Intl.NumberFormat('en', { style: 'currency', currency });
    return format.resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

/**
 * `text` (an amount as a person types it: `12`, `12.5`, `1,234.56`) in minor units of
 * `currency`, exactly, without a floating-point number; `null` when it is not a positive amount
 * with at most the currency's digits.
 */
export function parseMinorUnits(text: string, currency: string): number | null {
  const digits = minorDigits(currency);
  const match = /^(\d+)(?:\.(\d*))?$/.exec(text.trim().replaceAll(',', ''));
  if (match === null) return null;
  const fraction = match[2] ?? '';
  if (fraction.length > digits) return null;
  const minor = BigInt(`${match[1]}${fraction.padEnd(digits, '0')}`);
  if (minor < 1n || minor > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(minor);
}

/** Fetches `path` with the session's credential and hands it to the browser as a download. */
export async function download(path: string, fallbackName: string): Promise<void> {
  const response = await fetch(path, {
    headers: { authorization: `Bearer ${currentToken() ?? ''}`, accept: 'text/csv' },
  }).catch(() => {
    throw new Problem(0, 'network', 'No connection', 'The API could not be reached.');
  });
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    throw new Problem(
      response.status,
      typeof body.code === 'string' ? body.code : `http_${response.status}`,
      typeof body.title === 'string' ? body.title : `HTTP ${response.status}`,
      typeof body.detail === 'string' ? body.detail : '',
    );
  }
  const name =
    /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ??
    fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
