import { useI18n } from '../../app/i18n.tsx';
import { Page } from '../../app/ui.tsx';

export function EventsPage() {
  const { t } = useI18n();
  return <Page title={t('events.title')}>{null}</Page>;
}
