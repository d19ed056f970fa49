import { useI18n } from '../../app/i18n.tsx';
import { Page } from '../../app/ui.tsx';

export function LedgerPage() {
  const { t } = useI18n();
  return <Page title={t('ledger.title')}>{null}</Page>;
}
