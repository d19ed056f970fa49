import type { MessageSet } from '../../app/i18n.tsx';

export const CUSTOMERS_MESSAGES: MessageSet = {
  en: { 'customers.title': 'Customers' },
  'zh-CN': { 'customers.title': 'Customers' },
};
