import type { MessageSet } from '../../app/i18n.tsx';

export const CARDS_MESSAGES: MessageSet = {
  en: { 'cards.title': 'Cards' },
  'zh-CN': { 'cards.title': 'Cards' },
};
