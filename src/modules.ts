/**
 * The domains this build of Mainstay hosts. Only entry points (the CLI, the tests, the benches)
 * import this list; the platform takes whatever list it is given and names no domain.
 */
import { admissionModule } from './domains/admission/module.ts';
import { cardsModule } from './domains/cards/module.ts';
import { identityModule } from './domains/identity/module.ts';
import { ledgerModule } from './domains/ledger/module.ts';
import { createOpsModule } from './domains/ops/module.ts';
import { cardsOnLedgerModule } from './links/cards-on-ledger.ts';
import { releasePipeline } from './links/release-pipeline.ts';
import type { ConfigSection, DomainModule } from './platform/domain-module.ts';

/**
 * Identity first: every other module's routes are checked with the access it provides. Links
 * last: each reaches the domains it joins through the modules started before it. Admission
 * before ops: the release pipeline (an ops workflow) reaches the admission gate.
 */
export const MODULES: readonly DomainModule[] = [
  identityModule,
  cardsModule,
  ledgerModule,
  admissionModule,
  createOpsModule([releasePipeline]),
  cardsOnLedgerModule,
];

/** The config file sections the hosted modules read. */
export const CONFIG_SECTIONS: readonly ConfigSection[] = MODULES.flatMap((module) =>
  module.configSection ? [module.configSection] : [],
);
