/**
 * The ledger: accounts with their balances (every shard, newest first), a transfer, the
 * settlement windows (live: their states move by themselves through the stream's `ledger`
 * topic) with their positions, close, settle and file, and the end-of-day checks with the trial
 * balance. `#/ledger/accounts/<id>` shows one account's statement.
 */
import { useEffect, useState } from 'react';
import { useI18n } from '../../app/i18n.tsx';
import { Page } from '../../app/ui.tsx';
import './ledger.css';
import { AccountsPanel } from './AccountsPanel.tsx';
import { EndOfDayPanel } from './EndOfDayPanel.tsx';
import { StatementView } from './StatementView.tsx';
import { TransferPanel } from './TransferPanel.tsx';
import { WindowsPanel } from './WindowsPanel.tsx';

/** The account id of `#/ledger/accounts/<id>`, or `null` on the ledger's own page. */
function accountInHash(): string | null {
  const match = /^#\/?ledger\/accounts\/([^/?#]+)/.exec(window.location.hash);
  return match?.[1] === undefined ? null : decodeURIComponent(match[1]);
}

function useAccountInHash(): string | null {
  const [accountId, setAccountId] = useState(accountInHash);
  useEffect(() => {
    const changed = () => setAccountId(accountInHash());
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return accountId;
}

export function LedgerPage() {
  const { t } = useI18n();
  const accountId = useAccountInHash();
  // A transfer made here shows in the accounts' balances at once.
  const [posted, setPosted] = useState(0);
  if (accountId !== null) return <StatementView key={accountId} accountId={accountId} />;
  return (
    <Page title={t('ledger.title')}>
      <AccountsPanel refreshKey={posted} />
      <div className="grid ledger-grid">
        <TransferPanel onPosted={() => setPosted((n) => n + 1)} />
        <EndOfDayPanel />
      </div>
      <WindowsPanel />
    </Page>
  );
}
