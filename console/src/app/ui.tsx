/**
 * The console's shared pieces: a page frame, a problem banner (title and detail, never a
 * stack), figures, a table that renders only the rows in view (so 1,000 rows stay responsive),
 * a live line chart (uPlot), and a hook for one API read with its loading and problem states.
 */
import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, Problem } from './api.ts';
import { useI18n } from './i18n.tsx';
import { useSession } from './session.tsx';

export function Page({
  title,
  actions,
  children,
}: {
  title: string;
  actions?: ReactNode;
  children: ReactNode;
}) {
  return (
    <section className="page" aria-labelledby="page-title">
      <header className="page-header">
        <h1 id="page-title">{title}</h1>
        {actions}
      </header>
      {children}
    </section>
  );
}

/** A problem as people need it: its title and detail, and its code for support. */
export function ProblemBanner({ problem }: { problem: unknown }) {
  const { t } = useI18n();
  if (problem === null || problem === undefined) return null;
  const p =
    problem instanceof Problem
      ? problem
      : new Problem(
          0,
          'unexpected',
          t('problem.unexpected'),
          String((problem as Error).message ?? ''),
        );
  return (
    <div className="problem" role="alert" data-code={p.code}>
      <strong>{p.code === 'network' ? t('problem.network') : p.title}</strong>
      {p.detail ? <p>{p.detail}</p> : null}
      <small>
        {t('problem.code')}: {p.code}
      </small>
    </div>
  );
}

export function Figure({
  label,
  value,
  testId,
}: {
  label: string;
  value: ReactNode;
  testId?: string;
}) {
  return (
    <div className="figure">
      <div className="figure-label">{label}</div>
      <div className="figure-value" data-testid={testId}>
        {value}
      </div>
    </div>
  );
}

/** One read of `path`: its value, a problem, and a way to read again. */
export function useApi<T>(path: string | null) {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [problem, setProblem] = useState<unknown>(null);
  const [version, setVersion] = useState(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: `version` changes to read again.
  useEffect(() => {
    if (path === null) return;
    const abort = new AbortController();
    api<T>('GET', path, { signal: abort.signal }).then(
      (answer) => {
        setValue(answer);
        setProblem(null);
      },
      (error) => {
        if ((error as Error).name !== 'AbortError') setProblem(error);
      },
    );
    return () => abort.abort();
  }, [path, version]);
  const reload = useCallback(() => setVersion((n) => n + 1), []);
  return { value, problem, reload };
}

export interface Column<R> {
  readonly key: string;
  readonly label: string;
  readonly render: (row: R) => ReactNode;
  readonly numeric?: boolean;
}

const ROW_HEIGHT = 32;

/**
 * A table of `rows` that puts only the rows in view (and a few around) into the page: a list of
 * thousands scrolls without the browser laying all of them out.
 */
export function DataTable<R>({
  rows,
  columns,
  rowKey,
  height = 480,
  label,
}: {
  rows: readonly R[];
  columns: readonly Column<R>[];
  rowKey: (row: R) => string;
  height?: number;
  label: string;
}) {
  const [top, setTop] = useState(0);
  const { t } = useI18n();
  const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - 10);
  const count = Math.ceil(height / ROW_HEIGHT) + 20;
  const shown = rows.slice(first, first + count);
  return (
    <section
      className="table-scroll"
      style={{ maxHeight: height }}
      onScroll={(event) => setTop(event.currentTarget.scrollTop)}
      // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region takes focus so keys scroll it.
      tabIndex={0}
      aria-label={label}
    >
      <table className="data-table" aria-rowcount={rows.length}>
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column.key} className={column.numeric ? 'num' : undefined} scope="col">
                {column.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {first > 0 ? <tr style={{ height: first * ROW_HEIGHT }} /> : null}
          {shown.map((row) => (
            <tr key={rowKey(row)} style={{ height: ROW_HEIGHT }}>
              {columns.map((column) => (
                <td key={column.key} className={column.numeric ? 'num' : undefined}>
                  {column.render(row)}
                </td>
              ))}
            </tr>
          ))}
          {first + count < rows.length ? (
            <tr style={{ height: (rows.length - first - count) * ROW_HEIGHT }} />
          ) : null}
        </tbody>
      </table>
      {rows.length === 0 ? <p className="empty">{t('table.empty')}</p> : null}
    </section>
  );
}

/** A line chart of series over time (seconds), redrawn in place as points arrive. */
export function LiveChart({
  title,
  series,
  points,
  height = 180,
}: {
  title: string;
  series: readonly string[];
  /** Rows of [time in s, value of each series]; `null` leaves a gap. */
  points: readonly (readonly (number | null)[])[];
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const names = series.join('|');
  const timeLabel = useI18n().t('chart.time');
  useEffect(() => {
    if (box.current === null) return;
    const colours = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2'];
    chart.current = new uPlot(
      {
        width: box.current.clientWidth || 600,
        height,
        // The last two minutes at least, so that one point does not stretch the axis over years.
        scales: { x: { time: true, range: (_u, min, max) => [Math.min(min, max - 120), max + 1] } },
        series: [
          { label: timeLabel },
          ...names
            .split('|')
            .map((label, i) => ({ label, stroke: colours[i % colours.length], width: 2 })),
        ],
        axes: [{}, { size: 60 }],
      },
      [[], ...names.split('|').map(() => [])],
      box.current,
    );
    return () => chart.current?.destroy();
  }, [names, height, timeLabel]);
  useEffect(() => {
    const columns = series.map((_, i) => points.map((row) => row[i + 1] ?? null));
    chart.current?.setData([points.map((row) => row[0] ?? 0), ...columns] as uPlot.AlignedData);
  }, [points, series]);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} />
    </figure>
  );
}

/** Keeps the last `limit` samples of a live value, one per change (`null`: not known then). */
export function useSamples<V extends number | null = number>(
  sample: readonly V[] | null,
  limit = 120,
): (number | V)[][] {
  const [rows, setRows] = useState<(number | V)[][]>([]);
  const last = useRef<string>('');
  useEffect(() => {
    if (sample === null) return;
    const text = JSON.stringify(sample);
    if (text === last.current) return;
    last.current = text;
    setRows((old) => [...old.slice(-(limit - 1)), [Date.now() / 1000, ...sample]]);
  }, [sample, limit]);
  return rows;
}

/**
 * Approve, or reject with a reason (required to reject): the decision row of every queue that
 * waits for a person (approvals, KYC reviews).
 */
export function DecisionRow({
  id,
  reason,
  onReason,
  busy,
  maxLength,
  labels,
  onDecide,
  needs,
}: {
  id: string;
  reason: string;
  onReason: (reason: string) => void;
  busy: boolean;
  maxLength: number;
  labels: { approve: string; reason: string; reject: string };
  onDecide: (decision: 'approve' | 'reject') => void;
  /** The scope a decision needs: without it the row is shown disabled (see {@link Guard}). */
  needs: string;
}) {
  return (
    <div className="form-row">
      <Guard needs={needs}>
        <button type="button" disabled={busy} onClick={() => onDecide('approve')}>
          {labels.approve}
        </button>
        <label htmlFor={id}>
          {labels.reason}
          <input
            id={id}
            value={reason}
            maxLength={maxLength}
            onChange={(event) => onReason(event.target.value)}
          />
        </label>
        <button
          type="button"
          className="danger"
          disabled={busy || reason.trim() === ''}
          onClick={() => onDecide('reject')}
        >
          {labels.reject}
        </button>
      </Guard>
    </div>
  );
}

/** Whether the session's scopes include `scope` (`false` while they are being read). */
export function useCan(): (scope: string) => boolean {
  const { scopes } = useSession();
  return useCallback((scope: string) => scopes?.has(scope) ?? false, [scopes]);
}

/** Says, once for a panel, that its actions need `needs`; nothing for someone who has it. */
export function NeedsNote({ needs }: { needs: string }) {
  const { t } = useI18n();
  const { scopes } = useSession();
  if (scopes === null || scopes.has(needs)) return null;
  return (
    <p className="guard-note" data-testid="needs-note">
      {t('common.needs', { scope: needs })}
    </p>
  );
}

/**
 * An action (buttons, a form's fields) offered only to a staff member whose scopes include
 * `needs`: for anyone else it is shown disabled (a disabled fieldset disables every control in
 * it), rather than refused after a click; the API refuses it all the same. Disabled too while
 * the session's scopes are read. `note` says why beside it.
 */
export function Guard({
  needs,
  note = false,
  children,
}: {
  needs: string;
  note?: boolean;
  children: ReactNode;
}) {
  const can = useCan();
  return (
    <>
      <fieldset className="guard" disabled={!can(needs)} data-needs={needs}>
        {children}
      </fieldset>
      {note ? <NeedsNote needs={needs} /> : null}
    </>
  );
}
