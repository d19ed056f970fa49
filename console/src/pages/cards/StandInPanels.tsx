import { useI18n } from '../../app/i18n.tsx';
import { DataTable, Figure } from '../../app/ui.tsx';
import type { CardShardFigures, CardsTopic, MinorUnits } from './cards-topic.ts';
import { usePercent } from './DeclineMix.tsx';

/** Amounts per currency, each through `money()`; a dash when there are none. */
export function Amounts({ amounts, testId }: { amounts: MinorUnits; testId?: string }) {
  const { money } = useI18n();
  const entries = Object.entries(amounts).filter(([, minor]) => BigInt(minor) !== 0n);
  if (entries.length === 0) return <span data-testid={testId}>—</span>;
  return (
    <ul className="cards-amounts" data-testid={testId}>
      {entries.map(([currency, minor]) => (
        <li key={currency}>{money(minor, currency)}</li>
      ))}
    </ul>
  );
}

/** The stand-in share, its triggers, the exposure and what waits for the issuer. */
export function StandInPanel({ topic }: { topic: CardsTopic }) {
  const { t, number, dateTime } = useI18n();
  const percent = usePercent();
  const s = topic.standIn;
  return (
    <section className="panel" aria-labelledby="cards-standin-title">
      <h2 id="cards-standin-title">{t('cards.standIn.title')}</h2>
      <div className="figures">
        <Figure label={t('cards.standIn.share')} value={percent(s.share)} testId="standin-share" />
        <Figure
          label={t('cards.standIn.decisions')}
          value={number(s.decisions)}
          testId="standin-decisions"
        />
        <Figure label={t('cards.standIn.approvals')} value={number(s.approvals)} />
        <Figure
          label={t('cards.standIn.pending')}
          value={number(s.pendingAdvices)}
          testId="standin-pending"
        />
        <Figure
          label={t('cards.standIn.unapplied')}
          value={number(topic.registry.unapplied)}
          testId="standin-unapplied"
        />
        <Figure
          label={t('cards.standIn.conflicts')}
          value={number(s.conflicts)}
          testId="standin-conflicts"
        />
        <Figure label={t('cards.standIn.quarantined')} value={number(s.quarantined)} />
      </div>
      <dl className="cards-facts">
        <dt>{t('cards.standIn.byTrigger')}</dt>
        <dd>
          {Object.entries(s.byTrigger)
            .map(([trigger, n]) => `${t(`cards.trigger.${trigger}`)}: ${number(n)}`)
            .join(' · ')}
        </dd>
        <dt>{t('cards.standIn.exposure')}</dt>
        <dd>
          <Amounts amounts={s.exposureByCurrency} testId="standin-exposure" />
        </dd>
        <dt>{t('cards.standIn.outstanding')}</dt>
        <dd>
          <Amounts amounts={topic.registry.outstandingByCurrency} />
        </dd>
        <dt>{t('cards.standIn.overshoot')}</dt>
        <dd>
          <Amounts amounts={topic.registry.overshootByCurrency} />
        </dd>
        <dt>{t('cards.standIn.registry')}</dt>
        <dd>
          <span className={`badge ${topic.registry.reachable ? 'ok' : 'bad'}`}>
            {topic.registry.reachable ? t('cards.registry.up') : t('cards.registry.down')}
          </span>
        </dd>
        {s.lastForwardError ? (
          <>
            <dt>{t('cards.standIn.lastError')}</dt>
            <dd>
              {t('cards.standIn.lastErrorText', {
                shard: s.lastForwardError.shardId,
                at: dateTime(s.lastForwardError.at),
                message: s.lastForwardError.message,
              })}
            </dd>
          </>
        ) : null}
      </dl>
    </section>
  );
}

const CIRCUIT_BADGE: Readonly<Record<string, string>> = {
  closed: 'ok',
  half_open: 'warn',
  open: 'bad',
};

/** Each shard's circuit, why it is diverted to stand-in (if it is) and its backlog. */
export function ShardsPanel({ shards }: { shards: readonly CardShardFigures[] }) {
  const { t, number } = useI18n();
  return (
    <section className="panel" aria-labelledby="cards-shards-title">
      <h2 id="cards-shards-title">{t('cards.shards.title')}</h2>
      <DataTable
        label={t('cards.shards.title')}
        rows={shards}
        rowKey={(row) => String(row.shardId)}
        height={260}
        columns={[
          { key: 'shard', label: t('cards.shards.shard'), render: (r) => r.shardId },
          {
            key: 'circuit',
            label: t('cards.shards.circuit'),
            render: (r) => (
              <span className={`badge ${CIRCUIT_BADGE[r.circuit] ?? ''}`}>
                {t(`cards.circuit.${r.circuit}`)}
              </span>
            ),
          },
          {
            key: 'diversion',
            label: t('cards.shards.diversion'),
            render: (r) => (
              <span className={`badge ${r.diversion === 'none' ? 'ok' : 'warn'}`}>
                {t(`cards.diversion.${r.diversion}`)}
              </span>
            ),
          },
          {
            key: 'p99',
            label: t('cards.shards.p99'),
            numeric: true,
            render: (r) => (r.latencyP99Ms === null ? '—' : number(Math.round(r.latencyP99Ms))),
          },
          {
            key: 'queue',
            label: t('cards.shards.queue'),
            numeric: true,
            render: (r) => number(r.queueDepth),
          },
          {
            key: 'issuerShare',
            label: t('cards.shards.issuerShare'),
            numeric: true,
            render: (r) => `${number(r.issuerSharePercent)}%`,
          },
          {
            key: 'pending',
            label: t('cards.shards.pending'),
            numeric: true,
            render: (r) => number(r.pendingAdvices),
          },
          {
            key: 'unapplied',
            label: t('cards.shards.unapplied'),
            numeric: true,
            render: (r) => number(r.unapplied),
          },
        ]}
      />
    </section>
  );
}
