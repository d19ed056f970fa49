import { useI18n } from '../../app/i18n.tsx';
import { Page } from '../../app/ui.tsx';

export function OverviewPage() {
  const { t } = useI18n();
  return <Page title={t('overview.title')}>{null}</Page>;
}
