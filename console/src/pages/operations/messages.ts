import type { MessageSet } from '../../app/i18n.tsx';

export const OPERATIONS_MESSAGES: MessageSet = {
  en: { 'operations.title': 'Operations' },
  'zh-CN': { 'operations.title': 'Operations' },
};
