import { useI18n } from '../../app/i18n.tsx';
import type { CardsTopic } from './cards-topic.ts';

/** A share (0..1) as the locale writes a percentage, to one decimal. */
export function usePercent(): (share: number) => string {
  const { locale } = useI18n();
  const format = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 });
  return (share) => format.format(Number.isFinite(share) ? share : 0);
}

/**
 * Approvals beside declines, and the declines by reason (each authorization status other than
 * `approved`), largest first, with their share of all declines.
 */
export function DeclineMix({ topic }: { topic: CardsTopic }) {
  const { t, number } = useI18n();
  const percent = usePercent();
  const { total, approved, declined, byStatus } = topic.authorizations;
  const reasons = Object.entries(byStatus)
    .filter(([status, count]) => status !== 'approved' && count > 0)
    .sort((a, b) => b[1] - a[1]);
  return (
    <section className="panel" aria-labelledby="cards-mix-title">
      <h2 id="cards-mix-title">{t('cards.mix.title')}</h2>
      <div className="cards-mix-bar" aria-hidden="true">
        <span className="approved" style={{ flexGrow: approved }} />
        <span className="declined" style={{ flexGrow: declined }} />
      </div>
      <p>
        {t('cards.mix.summary', {
          approved: number(approved),
          approvedShare: percent(total === 0 ? 0 : approved / total),
          declined: number(declined),
          declinedShare: percent(total === 0 ? 0 : declined / total),
        })}
      </p>
      {reasons.length === 0 ? (
        <p className="empty">{t('cards.mix.none')}</p>
      ) : (
        <table className="data-table" data-testid="decline-mix">
          <caption className="cards-sr-only">{t('cards.mix.caption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('cards.mix.reason')}</th>
              <th scope="col" className="num">
                {t('cards.mix.count')}
              </th>
              <th scope="col" className="num">
                {t('cards.mix.share')}
              </th>
              <th scope="col">
                <span className="cards-sr-only">{t('cards.mix.share')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {reasons.map(([status, count]) => (
              <tr key={status} data-testid={`decline-${status}`}>
                <th scope="row">{t(`cards.status.${status}`)}</th>
                <td className="num" data-testid={`decline-count-${status}`}>
                  {number(count)}
                </td>
                <td className="num">{percent(count / declined)}</td>
                <td className="cards-bar-cell" aria-hidden="true">
                  <span className="cards-bar" style={{ width: `${(100 * count) / declined}%` }} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
