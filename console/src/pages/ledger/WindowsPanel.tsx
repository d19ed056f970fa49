/**
 * Settlement windows, live from the stream's `ledger` topic (their states, closed and settled
 * shards move by themselves), with a window's net positions per currency, its close and settle
 * (each confirmed first; `ledger:admin` writes, idempotent) and its settlement file (CSV) once
 * it is closed.
 */
import { useState } from 'react';
import { api, idempotencyKey } from '../../app/api.ts';
import { useI18n } from '../../app/i18n.tsx';
import { RowsAfter, useRowsAfter } from '../../app/paging.tsx';
import { useStream } from '../../app/stream.ts';
import { Guard, NeedsNote, ProblemBanner, useApi } from '../../app/ui.tsx';
import { download, type SettlementWindow, type WindowReport } from './ledger-data.ts';

type LedgerTopic = {
  ledger: { windows: SettlementWindow[]; hasMore: boolean; nextCursor: string | null };
};
type Action = 'close' | 'settle';

const STATE_BADGE: Record<SettlementWindow['state'], string> = {
  open: 'warn',
  closed: 'ok',
  pending_settlement: 'warn',
  settled: 'ok',
};

const WINDOWS = '/v1/ledger/settlement-windows';
const windowPath = (id: string) => `${WINDOWS}/${encodeURIComponent(id)}`;

export function WindowsPanel() {
  const { t } = useI18n();
  const live = useStream<LedgerTopic>(['ledger']);
  // The first page is live; the windows after it are read on demand through the list's cursor,
  // a page at a time, from where the live page ends.
  const older = useRowsAfter<SettlementWindow>(
    WINDOWS,
    live.ledger?.hasMore ? live.ledger.nextCursor : null,
  );
  const windows = live.ledger ? [...live.ledger.windows, ...older.list.rows] : undefined;
  const [positionsOf, setPositionsOf] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<{ id: string; name: string; action: Action } | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [problem, setProblem] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const act = async (id: string, action: Action) => {
    setBusy(true);
    setProblem(null);
    setMessage(null);
    try {
      const report = await api<WindowReport>('POST', `${windowPath(id)}/${action}`, {
        idempotencyKey: idempotencyKey(),
      });
      setMessage(
        t(`ledger.windows.done.${action}`, {
          window: `${report.window.counterparty} #${report.window.number}`,
          state: t(`ledger.windowState.${report.window.state}`),
        }),
      );
      setConfirm(null);
    } catch (error) {
      setProblem(error);
    } finally {
      setBusy(false);
    }
  };
  const fetchFile = (id: string) => {
    setProblem(null);
    download(`${windowPath(id)}/file`, `settlement-${id}.csv`).catch(setProblem);
  };
  return (
    <section className="panel" aria-labelledby="ledger-windows">
      <h2 id="ledger-windows">{t('ledger.windows.title')}</h2>
      <NeedsNote needs="ledger:admin" />
      {confirm ? (
        <ConfirmBar
          text={t(`ledger.windows.confirm.${confirm.action}`, { window: confirm.name })}
          busy={busy}
          onConfirm={() => void act(confirm.id, confirm.action)}
          onCancel={() => setConfirm(null)}
        />
      ) : null}
      {message ? (
        <p role="status" data-testid="window-message">
          {message}
        </p>
      ) : null}
      <ProblemBanner problem={problem} />
      {windows === undefined ? (
        <p className="empty">{t('common.loading')}</p>
      ) : (
        <WindowTable
          windows={windows}
          onPositions={setPositionsOf}
          onAction={(id, action, name) => setConfirm({ id, name, action })}
          onFile={fetchFile}
        />
      )}
      <RowsAfter rows={older} label={t('ledger.windows.more')} />
      {positionsOf ? <Positions id={positionsOf} onClose={() => setPositionsOf(null)} /> : null}
    </section>
  );
}

function ConfirmBar(props: {
  text: string;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const { t } = useI18n();
  return (
    <div className="form-row ledger-confirm">
      <span>{props.text}</span>
      <button type="button" className="danger" onClick={props.onConfirm} disabled={props.busy}>
        {props.busy ? t('common.loading') : t('ledger.windows.confirm')}
      </button>
      <button type="button" className="secondary" onClick={props.onCancel}>
        {t('ledger.windows.cancel')}
      </button>
    </div>
  );
}

function WindowTable(props: {
  windows: readonly SettlementWindow[];
  onPositions: (id: string) => void;
  onAction: (id: string, action: Action, name: string) => void;
  onFile: (id: string) => void;
}) {
  const { t } = useI18n();
  if (props.windows.length === 0) return <p className="empty">{t('ledger.windows.none')}</p>;
  return (
    <div className="table-scroll" style={{ maxHeight: 360 }}>
      <table className="data-table" aria-label={t('ledger.windows.title')}>
        <thead>
          <tr>
            <th scope="col">{t('ledger.windows.counterparty')}</th>
            <th scope="col" className="num">
              {t('ledger.windows.number')}
            </th>
            <th scope="col">{t('ledger.windows.state')}</th>
            <th scope="col">{t('ledger.windows.opened')}</th>
            <th scope="col">{t('ledger.windows.closedAt')}</th>
            <th scope="col">{t('ledger.windows.shards')}</th>
            <th scope="col">{t('ledger.windows.actions')}</th>
          </tr>
        </thead>
        <tbody>
          {props.windows.map((window) => (
            <WindowRow key={window.id} window={window} {...props} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function WindowRow({
  window,
  onPositions,
  onAction,
  onFile,
}: {
  window: SettlementWindow;
  onPositions: (id: string) => void;
  onAction: (id: string, action: Action, name: string) => void;
  onFile: (id: string) => void;
}) {
  const { t, dateTime } = useI18n();
  const name = `${window.counterparty} #${window.number}`;
  return (
    <tr data-testid={`window-${window.id}`}>
      <td>{window.counterparty}</td>
      <td className="num">{window.number}</td>
      <td>
        <span className={`badge ${STATE_BADGE[window.state]}`} data-testid="window-state">
          {t(`ledger.windowState.${window.state}`)}
        </span>
      </td>
      <td>{dateTime(window.openedAt)}</td>
      <td>{window.closedAt ? dateTime(window.closedAt) : '—'}</td>
      <td>
        {t('ledger.windows.shardCounts', {
          closed: window.shardsClosed,
          settled: window.shardsSettled,
          count: window.shardCount,
        })}
      </td>
      <td className="ledger-actions">
        <button
          type="button"
          className="secondary"
          onClick={() => onPositions(window.id)}
          aria-label={t('ledger.windows.positionsOf', { window: name })}
        >
          {t('ledger.windows.positions')}
        </button>
        <Guard needs="ledger:admin">
          {window.state === 'open' ? (
            <button
              type="button"
              onClick={() => onAction(window.id, 'close', name)}
              aria-label={t('ledger.windows.closeOf', { window: name })}
            >
              {t('ledger.windows.close')}
            </button>
          ) : null}
          {window.state === 'closed' || window.state === 'pending_settlement' ? (
            <button
              type="button"
              onClick={() => onAction(window.id, 'settle', name)}
              aria-label={t('ledger.windows.settleOf', { window: name })}
            >
              {t('ledger.windows.settle')}
            </button>
          ) : null}
        </Guard>
        {window.state !== 'open' ? (
          <button
            type="button"
            className="secondary"
            onClick={() => onFile(window.id)}
            aria-label={t('ledger.windows.fileOf', { window: name })}
          >
            {t('ledger.windows.file')}
          </button>
        ) : null}
      </td>
    </tr>
  );
}

function Positions({ id, onClose }: { id: string; onClose: () => void }) {
  const { t, money, number } = useI18n();
  const report = useApi<WindowReport>(`${windowPath(id)}/positions`);
  const window = report.value?.window;
  return (
    <section className="ledger-positions" aria-labelledby="ledger-positions">
      <div className="form-row">
        <h3 id="ledger-positions">
          {t('ledger.windows.positionsTitle', {
            window: window ? `${window.counterparty} #${window.number}` : id,
          })}
        </h3>
        <button type="button" className="secondary" onClick={report.reload}>
          {t('common.refresh')}
        </button>
        <button type="button" className="secondary" onClick={onClose}>
          {t('ledger.windows.hidePositions')}
        </button>
      </div>
      <ProblemBanner problem={report.problem} />
      {window?.state === 'open' ? <p>{t('ledger.windows.provisional')}</p> : null}
      <table className="data-table" aria-labelledby="ledger-positions">
        <thead>
          <tr>
            {['currency', 'debits', 'credits', 'net', 'transfers', 'reserve', 'amount'].map(
              (key) => (
                <th key={key} scope="col" className={key === 'currency' ? undefined : 'num'}>
                  {t(`ledger.positions.${key}`)}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>
          {(report.value?.positions ?? []).map((p) => (
            <tr key={p.currency}>
              <td>{p.currency}</td>
              <td className="num">{money(p.debits, p.currency)}</td>
              <td className="num">{money(p.credits, p.currency)}</td>
              <td className="num">{money(p.net, p.currency)}</td>
              <td className="num">{number(p.transferCount)}</td>
              <td className="num">{money(p.reserve, p.currency)}</td>
              <td className="num">{money(p.settlementAmount, p.currency)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {report.value && report.value.positions.length === 0 ? (
        <p className="empty">{t('ledger.windows.noPositions')}</p>
      ) : null}
    </section>
  );
}
