/**
 * The link that puts cards on the ledger (decision 52), listed by the entry point after both
 * domains: it reaches the running cards and ledger modules of its process, attaches the ledger
 * as the sink of the cards' posting job (one process at a time drains, behind a lease on the
 * catalog), and plugs the check "each card account equals its ledger accounts" into the
 * ledger's end-of-day report.
 * Neither domain imports the other; only this entry-point file names both.
 */

import {
  type CardLedgerCheck,
  checkCardAccountsOnLedger,
} from '../domains/cards/core/ledger/card-ledger-check.ts';
import { cardsModule } from '../domains/cards/module.ts';
import { DerivedAccounts } from '../domains/ledger/core/derived-accounts.ts';
import { ledgerModule } from '../domains/ledger/module.ts';
import { AdvisoryLockLease } from '../jobs/advisory-lock-lease.ts';
import type { DomainModule, RunningModule } from '../platform/domain-module.ts';
import { cardLedgerEndOfDayCheck } from './card-ledger-end-of-day.ts';
import { LedgerCardPostings } from './ledger-card-postings.ts';

/** The link as it runs: the postings it attached and the end-of-day check. */
export interface RunningCardsOnLedger extends RunningModule {
  readonly postings: LedgerCardPostings;
  /** Each card account against its ledger receivable; breaks listed with their figures. */
  checkCardAccounts(): Promise<CardLedgerCheck>;
}

export const cardsOnLedgerModule: DomainModule<RunningCardsOnLedger> = {
  name: 'cards-on-ledger',
  shardMigrations: [],
  errors: {},
  async start(context) {
    if (context.started === undefined)
      throw new Error('cards-on-ledger needs the modules started before it');
    const cards = context.started.get(cardsModule);
    const ledger = context.started.get(ledgerModule);
    const postings = new LedgerCardPostings(
      ledger.engine,
      ledger.accounts,
      new DerivedAccounts(context.router),
    );
    const lease = new AdvisoryLockLease({ connection: context.catalogConnection });
    cards.ledgerPostings.start(postings, lease);
    // The ledger's end-of-day report lists the cards' check beside its own (decision 51).
    ledger.endOfDay.addCheck(cardLedgerEndOfDayCheck(context.router, postings));
    return {
      postings,
      checkCardAccounts: () => checkCardAccountsOnLedger(context.router, postings),
      async routes() {},
      async stop() {
        await cards.ledgerPostings.stop();
        await lease.close();
      },
    };
  },
  async describeRoutes() {},
};
