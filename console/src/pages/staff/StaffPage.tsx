import { useI18n } from '../../app/i18n.tsx';
import { Page } from '../../app/ui.tsx';

export function StaffPage() {
  const { t } = useI18n();
  return <Page title={t('staff.title')}>{null}</Page>;
}
