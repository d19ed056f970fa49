/**
 * The cards' check "each card account equals its ledger accounts" (decision 52) in the shape of
 * the ledger's end-of-day report (decision 51), which takes other domains' checks through its
 * `EndOfDayCheck` port; the entry point plugs it in, so neither domain names the other.
 */
import type { Router } from '../data/router.ts';
import {
  type CardLedgerBreak,
  type CardLedgerCheckOptions,
  checkCardAccountsOnLedger,
} from '../domains/cards/core/ledger/card-ledger-check.ts';
import type { CardReceivableReader } from '../domains/cards/core/ledger/card-ledger-port.ts';
import type { EndOfDayBreak, EndOfDayCheck } from '../domains/ledger/settlement/core/end-of-day.ts';

/** The kind of every break this check reports. */
export const CARD_ACCOUNT_BREAK_KIND = 'card_account_differs_from_ledger';

/** The end-of-day check over every card account, named as the cards name it. */
export function cardLedgerEndOfDayCheck(
  router: Router,
  receivables: CardReceivableReader,
  options: CardLedgerCheckOptions = {},
): EndOfDayCheck {
  return {
    name: 'card_accounts_equal_ledger',
    async run() {
      const result = await checkCardAccountsOnLedger(router, receivables, options);
      return { breaks: result.breaks.map((one) => endOfDayBreakOf(router, one)) };
    },
  };
}

/**
 * One break as the report lists it: the card account as subject, what the ledger should show
 * (the card side less what is still in flight) as expected, what it shows as actual, and the
 * card side's own figures beside them so the difference can be traced.
 */
export function endOfDayBreakOf(router: Router, one: CardLedgerBreak): EndOfDayBreak {
  const expectedPending = one.cardHeld - one.inFlightHeld;
  const expectedPosted = one.cardPosted - one.inFlightCaptured;
  return {
    kind: CARD_ACCOUNT_BREAK_KIND,
    shardId: router.map.shardOf(one.cardAccountId),
    subject: `${one.cardAccountId} ${one.currency}`,
    expected:
      `pending ${expectedPending} posted ${expectedPosted} (card held ${one.cardHeld}, ` +
      `posted ${one.cardPosted}; in flight held ${one.inFlightHeld}, ` +
      `captured ${one.inFlightCaptured})`,
    actual: `pending ${one.ledgerPending} posted ${one.ledgerPosted}`,
  };
}
