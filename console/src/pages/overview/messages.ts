import type { MessageSet } from '../../app/i18n.tsx';

export const OVERVIEW_MESSAGES: MessageSet = {
  en: { 'overview.title': 'Overview' },
  'zh-CN': { 'overview.title': '总览' },
};
