/**
 * One run: its status and progress, its steps with their decisions and failures, and its log,
 * followed live through the run's event stream (`GET /v1/ops/runs/{runId}/events` with
 * `Accept: text/event-stream`), which ends when the run waits for a person or is over and is
 * opened again, from the last event seen, when the run's status changes on the page's topic.
 */
import { useEffect, useRef, useState } from 'react';
import { currentToken, Problem } from '../../app/api.ts';
import { useI18n } from '../../app/i18n.tsx';
import { readEvents } from '../../app/stream.ts';
import { ProblemBanner } from '../../app/ui.tsx';
import { RunProgress, StatusBadge } from './RunList.tsx';
import type { Run, RunEvent, Step } from './types.ts';
import { useWho } from './who.ts';

async function follow(
  runId: string,
  after: number,
  onEvent: (event: RunEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const response = await fetch(`/v1/ops/runs/${encodeURIComponent(runId)}/events?after=${after}`, {
    headers: { authorization: `Bearer ${currentToken() ?? ''}`, accept: 'text/event-stream' },
    signal,
  });
  if (!response.ok || response.body === null) {
    const doc = (await response.json().catch(() => ({}))) as Record<string, string>;
    throw new Problem(response.status, doc.code ?? 'http', doc.title ?? '', doc.detail ?? '');
  }
  await readEvents(response.body, (kind, value) => {
    if (kind !== 'end') onEvent(value as RunEvent);
  });
}

/** The run's events, followed while it moves. */
function useRunEvents(runId: string, status: string): { events: RunEvent[]; problem: unknown } {
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [problem, setProblem] = useState<unknown>(null);
  const last = useRef(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new run starts a new log.
  useEffect(() => {
    last.current = 0;
    setEvents([]);
  }, [runId]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a change of status opens it again.
  useEffect(() => {
    const abort = new AbortController();
    const add = (event: RunEvent) => {
      if (event.seq <= last.current) return;
      last.current = event.seq;
      setEvents((old) => [...old, event]);
    };
    follow(runId, last.current, add, abort.signal).then(
      () => setProblem(null),
      (error) => {
        if (!abort.signal.aborted) setProblem(error);
      },
    );
    return () => abort.abort();
  }, [runId, status]);
  return { events, problem };
}

function StepRow({ step, events }: { step: Step; events: readonly RunEvent[] }) {
  const { t } = useI18n();
  const who = useWho();
  const progress = [...events]
    .reverse()
    .find((event) => event.position === step.position && event.kind === 'progress');
  const match = progress ? /^(\d+)\/(\d+) (.*)$/.exec(progress.detail) : null;
  return (
    <tr data-testid={`step-${step.name}`}>
      <td className="num">{step.position + 1}</td>
      <td>
        {step.name}
        {step.module !== step.name ? <small> ({step.module})</small> : null}
      </td>
      <td>
        <StatusBadge status={step.status} />
        {step.status === 'running' && match ? (
          <>
            {' '}
            <progress value={Number(match[1])} max={Math.max(Number(match[2]), 1)} />{' '}
            <small>{progress?.detail}</small>
          </>
        ) : null}
      </td>
      <td className="num">
        {t('operations.step.attempts', { n: step.attempts, max: step.attemptsMax })}
      </td>
      <td>
        {step.decidedBy
          ? t('operations.step.decided', {
              who: who(step.decidedBy),
              reason: step.decisionReason ?? '—',
            })
          : step.approverRoles?.length
            ? t('operations.step.needsApproval')
            : ''}
      </td>
      <td>{step.error ? `${step.error.code ?? ''} ${step.error.message}` : ''}</td>
    </tr>
  );
}

function StepTable({ run, events }: { run: Run; events: readonly RunEvent[] }) {
  const { t } = useI18n();
  return (
    <table className="data-table steps">
      <caption>{t('operations.steps.title')}</caption>
      <thead>
        <tr>
          <th scope="col" className="num">
            #
          </th>
          <th scope="col">{t('operations.steps.name')}</th>
          <th scope="col">{t('operations.steps.status')}</th>
          <th scope="col" className="num">
            {t('operations.steps.attempts')}
          </th>
          <th scope="col">{t('operations.steps.decision')}</th>
          <th scope="col">{t('operations.steps.error')}</th>
        </tr>
      </thead>
      <tbody>
        {run.steps.map((step) => (
          <StepRow key={step.position} step={step} events={events} />
        ))}
      </tbody>
    </table>
  );
}

function RunLog({ run, events }: { run: Run; events: readonly RunEvent[] }) {
  const { t, dateTime } = useI18n();
  const nameOf = (position: number | null) =>
    position === null ? '' : (run.steps[position]?.name ?? String(position));
  const list = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  // Keeps the newest event in view, unless the reader scrolled up to older ones.
  useEffect(() => {
    const box = list.current;
    if (box && stick.current && events.length > 0) box.scrollTop = box.scrollHeight;
  }, [events]);
  return (
    <section aria-labelledby="log-title">
      <h3 id="log-title">{t('operations.log.title')}</h3>
      <ol
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling log takes focus so keys scroll it.
        tabIndex={0}
        aria-labelledby="log-title"
        className="run-log"
        data-testid="run-log"
        ref={list}
        onScroll={(event) => {
          const box = event.currentTarget;
          stick.current = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
        }}
      >
        {events.map((event) => (
          <li key={event.seq} data-kind={event.kind}>
            <time dateTime={event.at}>{dateTime(event.at)}</time> <code>{event.kind}</code>{' '}
            {event.position !== null ? <strong>{nameOf(event.position)}</strong> : null}{' '}
            {event.detail}
          </li>
        ))}
      </ol>
      {events.length === 0 ? <p className="empty">{t('operations.log.empty')}</p> : null}
    </section>
  );
}

export function RunDetail({ run }: { run: Run }) {
  const { t, dateTime } = useI18n();
  const who = useWho();
  const { events, problem } = useRunEvents(run.id, run.status);
  return (
    <section className="panel" aria-labelledby="run-title" data-testid="run-detail">
      <h2 id="run-title">
        {t('operations.run.title', { workflow: run.workflow })}{' '}
        <code data-testid="selected-run-id">{run.id}</code>{' '}
        <StatusBadge status={run.status} testId="selected-run-status" />
      </h2>
      <p>
        <RunProgress run={run} /> · {t('operations.startedBy', { who: who(run.startedBy) })} ·{' '}
        {dateTime(run.createdAt)}
        {run.finishedAt
          ? ` · ${t('operations.run.finished', { at: dateTime(run.finishedAt) })}`
          : ''}
      </p>
      <p>
        {t('operations.run.input')} <code>{JSON.stringify(run.input)}</code>
      </p>
      {run.error ? (
        <p className="field-error">
          {run.error.code ?? ''} {run.error.message}
        </p>
      ) : null}
      <StepTable run={run} events={events} />
      <RunLog run={run} events={events} />
      <ProblemBanner problem={problem} />
    </section>
  );
}
