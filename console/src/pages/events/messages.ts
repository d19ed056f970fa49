import type { MessageSet } from '../../app/i18n.tsx';

export const EVENTS_MESSAGES: MessageSet = {
  en: { 'events.title': 'Events' },
  'zh-CN': { 'events.title': 'Events' },
};
