import { useI18n } from '../../app/i18n.tsx';
import { Page } from '../../app/ui.tsx';

export function OperationsPage() {
  const { t } = useI18n();
  return <Page title={t('operations.title')}>{null}</Page>;
}
