/** Events as a timeline, newest first: time, kind, server, DC, epoch, time since detection. */
import { useI18n } from '../../app/i18n.tsx';
import { EVENT_KINDS, eventKey, type FailoverEvent, kindTone } from './events.ts';
import './events.css';

const KNOWN: ReadonlySet<string> = new Set(EVENT_KINDS);

export function KindBadge({ kind }: { kind: string }) {
  const { t } = useI18n();
  return (
    <span className={`badge ${kindTone(kind)}`} data-kind={kind}>
      {KNOWN.has(kind) ? t(`events.kind.${kind}`) : kind}
    </span>
  );
}

/** Milliseconds as people read them: `850 ms`, `2.4 s`. */
export function useDuration(): (ms: number) => string {
  const { t, number } = useI18n();
  return (ms) =>
    ms < 1000
      ? t('events.ms', { n: number(Math.round(ms)) })
      : t('events.seconds', { n: number(Math.round(ms / 100) / 10) });
}

export function EventTimeline({
  events,
  label,
}: {
  events: readonly FailoverEvent[];
  label: string;
}) {
  const { t, dateTime, number } = useI18n();
  const duration = useDuration();
  const seen = new Map<string, number>();
  if (events.length === 0) return <p className="empty">{t('events.none')}</p>;
  return (
    <ol className="event-timeline" aria-label={label}>
      {events.map((event) => {
        const key = eventKey(event);
        const nth = (seen.get(key) ?? 0) + 1;
        seen.set(key, nth);
        return (
          <li
            key={`${key}#${nth}`}
            className={`tone-${kindTone(event.kind) || 'plain'}`}
            data-testid="event"
            data-kind={event.kind}
          >
            <time dateTime={event.at}>{dateTime(event.at)}</time>
            <div className="event-head">
              <KindBadge kind={event.kind} />
              {event.server !== null ? (
                <span>
                  {t('events.server')}: <strong>{event.server}</strong>
                </span>
              ) : null}
              {event.dc !== null ? (
                <span>
                  {t('events.dc')}: <strong>{event.dc}</strong>
                </span>
              ) : null}
              {event.epoch !== null ? (
                <span>
                  {t('events.epoch')}: <strong>{number(event.epoch)}</strong>
                </span>
              ) : null}
              {event.sinceDetectionMs !== null ? (
                <span>
                  {t('events.sinceDetection')}: <strong>{duration(event.sinceDetectionMs)}</strong>
                </span>
              ) : null}
            </div>
            <p className="event-detail">{event.detail}</p>
          </li>
        );
      })}
    </ol>
  );
}
