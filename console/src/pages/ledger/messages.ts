import type { MessageSet } from '../../app/i18n.tsx';

export const LEDGER_MESSAGES: MessageSet = {
  en: { 'ledger.title': 'Ledger' },
  'zh-CN': { 'ledger.title': 'Ledger' },
};
