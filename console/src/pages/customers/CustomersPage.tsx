import { useI18n } from '../../app/i18n.tsx';
import { Page } from '../../app/ui.tsx';

export function CustomersPage() {
  const { t } = useI18n();
  return <Page title={t('customers.title')}>{null}</Page>;
}
