/**
 * Failovers, fences, promotions, rebuilds and catalog epoch changes, newest first: the 50 newest
 * live from the stream's `events` topic (kept while the page is open, so none is missed when
 * more arrive), older ones a page at a time from `GET /v1/events`.
 */
import { useCallback, useEffect, useState } from 'react';
import { api } from '../../app/api.ts';
import { useI18n } from '../../app/i18n.tsx';
import { useStream } from '../../app/stream.ts';
import { Figure, Page, ProblemBanner } from '../../app/ui.tsx';
import { EventTimeline } from './EventTimeline.tsx';
import { type EventPage, type FailoverEvent, mergeEvents } from './events.ts';

const OLDER_PAGE = 100;

interface Older {
  /** Where the next older page starts; `null` before the first load. */
  readonly cursor: string | null;
  readonly done: boolean;
  readonly busy: boolean;
  readonly problem: unknown;
}

export function EventsPage() {
  const { t, number } = useI18n();
  const live = useStream<{ events: FailoverEvent[] }>(['events']).events;
  const [events, setEvents] = useState<readonly FailoverEvent[]>([]);
  const [older, setOlder] = useState<Older>({
    cursor: null,
    done: false,
    busy: false,
    problem: null,
  });
  useEffect(() => {
    if (live) setEvents((held) => mergeEvents(held, live));
  }, [live]);
  const loadOlder = useCallback(async () => {
    setOlder((state) => ({ ...state, busy: true, problem: null }));
    const after = older.cursor === null ? '' : `&startingAfter=${encodeURIComponent(older.cursor)}`;
    try {
      const page = await api<EventPage>('GET', `/v1/events?limit=${OLDER_PAGE}${after}`);
      setEvents((held) => mergeEvents(held, page.data));
      setOlder({ cursor: page.nextCursor, done: !page.hasMore, busy: false, problem: null });
    } catch (problem) {
      setOlder((state) => ({ ...state, busy: false, problem }));
    }
  }, [older.cursor]);
  return (
    <Page title={t('events.title')}>
      <div className="figures">
        <Figure
          label={t('events.shown')}
          value={live === undefined ? '…' : number(events.length)}
          testId="events-shown"
        />
      </div>
      <section className="panel" aria-labelledby="events-timeline">
        <h2 id="events-timeline">{t('events.timeline')}</h2>
        {live === undefined ? (
          <p className="empty">{t('events.waiting')}</p>
        ) : (
          <EventTimeline events={events} label={t('events.timeline')} />
        )}
        <ProblemBanner problem={older.problem} />
        <div className="events-more">
          {older.done ? (
            <span className="empty" data-testid="events-all-loaded">
              {t('events.allLoaded')}
            </span>
          ) : (
            <button
              type="button"
              className="secondary"
              onClick={() => void loadOlder()}
              disabled={older.busy}
            >
              {older.busy ? t('events.loading') : t('events.loadOlder')}
            </button>
          )}
        </div>
      </section>
    </Page>
  );
}
