/**
 * Cards: authorizations per second (from the `cards` topic's successive counts), the approval
 * and decline mix by reason, stand-in share and exposure, the advices waiting and the
 * reconciliation with its conflicts, and each shard's circuit and diversion. Live figures come
 * from the stream; the lists are read through the API again when those figures change.
 */
import { useI18n } from '../../app/i18n.tsx';
import { useStream } from '../../app/stream.ts';
import { Figure, LiveChart, Page } from '../../app/ui.tsx';
import { AdvicesPanel, ReconciliationPanel } from './AdvicesPanel.tsx';
import { adviceChangeKey, type CardsTopic, useRates } from './cards-topic.ts';
import { DeclineMix, usePercent } from './DeclineMix.tsx';
import { ShardsPanel, StandInPanel } from './StandInPanels.tsx';
import './cards.css';

const TOPICS = ['cards'];

export function CardsPage() {
  const { t, number } = useI18n();
  const percent = usePercent();
  const { cards } = useStream<{ cards: CardsTopic }>(TOPICS);
  const { points, perSecond } = useRates(cards);
  const changeKey = adviceChangeKey(cards);
  const a = cards?.authorizations;
  return (
    <Page title={t('cards.title')}>
      <div className="cards-page">
        <p className="note">{t('cards.note')}</p>
        <div className="figures">
          <Figure
            label={t('cards.figure.total')}
            value={a ? number(a.total) : '…'}
            testId="cards-authorizations"
          />
          <Figure
            label={t('cards.figure.rate')}
            value={perSecond === null ? '…' : number(Math.round(perSecond * 10) / 10)}
            testId="cards-rate"
          />
          <Figure
            label={t('cards.figure.approved')}
            value={a ? number(a.approved) : '…'}
            testId="cards-approved"
          />
          <Figure
            label={t('cards.figure.declined')}
            value={a ? number(a.declined) : '…'}
            testId="cards-declined"
          />
          <Figure
            label={t('cards.figure.approvalRate')}
            value={a ? (a.total === 0 ? '—' : percent(a.approved / a.total)) : '…'}
          />
          <Figure label={t('cards.figure.issuer')} value={a ? number(a.byDecider.issuer) : '…'} />
          <Figure
            label={t('cards.figure.standIn')}
            value={a ? number(a.byDecider.stand_in) : '…'}
          />
        </div>
        <LiveChart
          title={t('cards.chart.title')}
          series={[t('cards.chart.authorizations'), t('cards.chart.declines')]}
          points={points}
        />
        {cards ? (
          <div className="grid cards-grid">
            <DeclineMix topic={cards} />
            <StandInPanel topic={cards} />
          </div>
        ) : (
          <p className="empty">{t('common.loading')}</p>
        )}
        {cards ? <ShardsPanel shards={cards.shards} /> : null}
        <ReconciliationPanel changeKey={changeKey} />
        <AdvicesPanel changeKey={changeKey} />
      </div>
    </Page>
  );
}
