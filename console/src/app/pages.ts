/**
 * Every page of the console, in the navigation's order. A page lives in its own folder under
 * `src/pages/` with its component and its messages (en and zh-CN); a later domain adds its page
 * here.
 */
import type { ComponentType } from 'react';
import { CardsPage } from '../pages/cards/CardsPage.tsx';
import { CARDS_MESSAGES } from '../pages/cards/messages.ts';
import { CustomersPage } from '../pages/customers/CustomersPage.tsx';
import { CUSTOMERS_MESSAGES } from '../pages/customers/messages.ts';
import { EventsPage } from '../pages/events/EventsPage.tsx';
import { EVENTS_MESSAGES } from '../pages/events/messages.ts';
import { LedgerPage } from '../pages/ledger/LedgerPage.tsx';
import { LEDGER_MESSAGES } from '../pages/ledger/messages.ts';
import { OPERATIONS_MESSAGES } from '../pages/operations/messages.ts';
import { OperationsPage } from '../pages/operations/OperationsPage.tsx';
import { OVERVIEW_MESSAGES } from '../pages/overview/messages.ts';
import { OverviewPage } from '../pages/overview/OverviewPage.tsx';
import { STAFF_MESSAGES } from '../pages/staff/messages.ts';
import { StaffPage } from '../pages/staff/StaffPage.tsx';
import type { MessageSet } from './i18n.tsx';

export interface PageEntry {
  /** The page's route: `#/<id>`. */
  readonly id: string;
  /** The message key of its title in the navigation. */
  readonly titleKey: string;
  readonly Component: ComponentType;
  readonly messages: MessageSet;
}

export const PAGES: readonly PageEntry[] = [
  {
    id: 'overview',
    titleKey: 'overview.title',
    Component: OverviewPage,
    messages: OVERVIEW_MESSAGES,
  },
  { id: 'events', titleKey: 'events.title', Component: EventsPage, messages: EVENTS_MESSAGES },
  {
    id: 'operations',
    titleKey: 'operations.title',
    Component: OperationsPage,
    messages: OPERATIONS_MESSAGES,
  },
  { id: 'cards', titleKey: 'cards.title', Component: CardsPage, messages: CARDS_MESSAGES },
  { id: 'ledger', titleKey: 'ledger.title', Component: LedgerPage, messages: LEDGER_MESSAGES },
  { id: 'staff', titleKey: 'staff.title', Component: StaffPage, messages: STAFF_MESSAGES },
  {
    id: 'customers',
    titleKey: 'customers.title',
    Component: CustomersPage,
    messages: CUSTOMERS_MESSAGES,
  },
];
