import { setTimeout as sleep } from 'node:timers/promises';
import type { Router } from '../../../../data/router.ts';
import {
  type CardAccountInFlight,
  readCardAccountsWithInFlight,
} from '../../store/card-ledger-outbox.ts';
import type { CardReceivable, CardReceivableReader } from './card-ledger-port.ts';

/** The check's name in an end-of-day report. */
export const CARD_LEDGER_CHECK_NAME = 'card_accounts_equal_ledger';

/**
 * A card account whose books and ledger receivable disagree, with every figure the comparison
 * used. What the ledger should show is the card account's figure less what its events not yet
 * posted carry: `ledgerPending` should be `cardHeld - inFlightHeld`, `ledgerPosted` should be
 * `cardPosted - inFlightCaptured`.
 */
export interface CardLedgerBreak {
  readonly cardAccountId: string;
  readonly currency: string;
  readonly cardHeld: bigint;
  readonly cardPosted: bigint;
  readonly inFlightHeld: bigint;
  readonly inFlightCaptured: bigint;
  readonly ledgerPending: bigint;
  readonly ledgerPosted: bigint;
}

/** The outcome of the check: how many accounts it compared and every break it found. */
export interface CardLedgerCheck {
  readonly name: typeof CARD_LEDGER_CHECK_NAME;
  readonly ok: boolean;
  readonly accountsChecked: number;
  readonly breaks: readonly CardLedgerBreak[];
}

/** Tuning of {@link checkCardAccountsOnLedger}. */
export interface CardLedgerCheckOptions {
  /** Card accounts read per page (one read of cards, one of the ledger). */
  readonly pageSizeMax?: number;
  /** Times an account that disagrees is read again before it counts as a break. */
  readonly recheckCountMax?: number;
  /** Pause before each re-read, so an event being posted right now has landed. */
  readonly recheckDelayMs?: number;
}

const DEFAULTS = { pageSizeMax: 500, recheckCountMax: 3, recheckDelayMs: 200 };

/**
 * The end-of-day check "each card account equals its ledger accounts" (decision 52): on every
 * shard, page by page, each card account's held and posted amounts, less its events not yet
 * posted, against its receivable's pending and posted figures in the ledger. The card side and
 * its events are read in one transaction; the ledger after it, so an event posted in between
 * shows as a disagreement: such an account is read again (`recheckCountMax` times) and is a
 * break only if it still disagrees. Breaks are reported with their figures, never hidden.
 */
export async function checkCardAccountsOnLedger(
  router: Router,
  ledger: CardReceivableReader,
  options: CardLedgerCheckOptions = {},
): Promise<CardLedgerCheck> {
  const settings = { ...DEFAULTS, ...options };
  let accountsChecked = 0;
  const breaks: CardLedgerBreak[] = [];
  for (const shardId of router.map.shardIds) {
    let afterId: string | null = null;
    for (;;) {
      const page = await compareOnShard(router, ledger, shardId, {
        afterId,
        limit: settings.pageSizeMax,
      });
      accountsChecked += page.count;
      breaks.push(...(await recheck(router, ledger, shardId, page.disagreeing, settings)));
      if (page.lastId === null || page.count < settings.pageSizeMax) break;
      afterId = page.lastId;
    }
  }
  return { name: CARD_LEDGER_CHECK_NAME, ok: breaks.length === 0, accountsChecked, breaks };
}

/** Reads `selection` of one shard's card accounts and the ledger's side; the disagreeing. */
async function compareOnShard(
  router: Router,
  ledger: CardReceivableReader,
  shardId: number,
  selection: Parameters<typeof readCardAccountsWithInFlight>[1],
): Promise<{ count: number; lastId: string | null; disagreeing: CardLedgerBreak[] }> {
  const { value: accounts } = await router.readShard(
    shardId,
    (db) => readCardAccountsWithInFlight(db, selection),
    { consistency: 'primary' },
  );
  const ledgerSide = await ledger.receivables(
    accounts.map(({ id, currency }) => ({ id, currency })),
  );
  const disagreeing = accounts.flatMap((account) => {
    const compared = compare(account, ledgerSide.get(account.id));
    return compared === null ? [] : [compared];
  });
  return { count: accounts.length, lastId: accounts.at(-1)?.id ?? null, disagreeing };
}

/** Reads the disagreeing accounts again; those that still disagree are the breaks. */
async function recheck(
  router: Router,
  ledger: CardReceivableReader,
  shardId: number,
  disagreeing: readonly CardLedgerBreak[],
  settings: typeof DEFAULTS,
): Promise<CardLedgerBreak[]> {
  let left = [...disagreeing];
  for (let round = 0; round < settings.recheckCountMax && left.length > 0; round += 1) {
    await sleep(settings.recheckDelayMs);
    const again = await compareOnShard(router, ledger, shardId, {
      ids: left.map((one) => one.cardAccountId),
    });
    left = again.disagreeing;
  }
  return left;
}

function compare(
  card: CardAccountInFlight,
  ledger: CardReceivable | undefined,
): CardLedgerBreak | null {
  const ledgerPending = ledger?.pending ?? 0n;
  const ledgerPosted = ledger?.posted ?? 0n;
  if (
    card.held - card.inFlight.held === ledgerPending &&
    card.posted - card.inFlight.captured === ledgerPosted
  )
    return null;
  return {
    cardAccountId: card.id,
    currency: card.currency,
    cardHeld: card.held,
    cardPosted: card.posted,
    inFlightHeld: card.inFlight.held,
    inFlightCaptured: card.inFlight.captured,
    ledgerPending,
    ledgerPosted,
  };
}
