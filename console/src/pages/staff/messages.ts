import type { MessageSet } from '../../app/i18n.tsx';

export const STAFF_MESSAGES: MessageSet = {
  en: { 'staff.title': 'Staff' },
  'zh-CN': { 'staff.title': 'Staff' },
};
