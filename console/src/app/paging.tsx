/**
 * Lists read through the API's cursors (`limit`, `startingAfter`; the answer's `data`,
 * `hasMore` and `nextCursor`), a page at a time on demand, so that a list of any length can be
 * gone through: never only its first page.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from './api.ts';
import { useI18n } from './i18n.tsx';
import { ProblemBanner } from './ui.tsx';

/** One page of a list, as the API answers it. */
export interface CursorPage<T> {
  readonly data: readonly T[];
  readonly hasMore: boolean;
  readonly nextCursor: string | null;
}

/** The largest page the list routes give. */
export const PAGE_SIZE_MAX = 100;

/**
 * The rows of a cursor-paged list at `path` (which may carry a query already), read one page
 * at a time on demand: `loadMore` adds the next page, `loadAll` follows the cursor to the end.
 * A new `path` (or `startAfter`, the cursor the list begins after) starts again from the first
 * page.
 */
export function usePagedList<T>(
  path: string | null,
  pageSize = PAGE_SIZE_MAX,
  startAfter: string | null = null,
) {
  const [rows, setRows] = useState<readonly T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [hasMore, setHasMore] = useState(false);
  const [loading, setLoading] = useState(false);
  const [problem, setProblem] = useState<unknown>(null);
  const [version, setVersion] = useState(0);
  /** The path and version of the list now shown: a page of an older one is dropped. */
  const current = useRef('');
  const pageOf = useCallback(
    (after: string | null) => {
      const join = path?.includes('?') ? '&' : '?';
      const tail = after === null ? '' : `&startingAfter=${encodeURIComponent(after)}`;
      return api<CursorPage<T>>('GET', `${path}${join}limit=${pageSize}${tail}`);
    },
    [path, pageSize],
  );
  const read = useCallback(
    async (after: string | null, all: boolean) => {
      const mine = current.current;
      setLoading(true);
      setProblem(null);
      try {
        let next: string | null = after;
        do {
          const fresh = next === null;
          const page = await pageOf(next);
          if (current.current !== mine) return;
          setRows((old) => (fresh ? page.data : [...old, ...page.data]));
          next = page.nextCursor;
          setCursor(next);
          setHasMore(page.hasMore);
        } while (all && next !== null);
      } catch (error) {
        if (current.current === mine) setProblem(error);
      } finally {
        if (current.current === mine) setLoading(false);
      }
    },
    [pageOf],
  );
  useEffect(() => {
    current.current = `${path} ${startAfter} ${version}`;
    setRows([]);
    setCursor(startAfter);
    setHasMore(false);
    if (path !== null) void read(startAfter, false);
  }, [path, startAfter, version, read]);
  return {
    rows,
    hasMore,
    loading,
    problem,
    loadMore: useCallback(() => void read(cursor, false), [read, cursor]),
    loadAll: useCallback(() => void read(cursor, true), [read, cursor]),
    reload: useCallback(() => setVersion((n) => n + 1), []),
  };
}

/**
 * "Load more" and, where a list may be long, "Load all" for a list of {@link usePagedList};
 * nothing once every row is shown.
 */
export function LoadMore({
  list,
  all = false,
}: {
  list: ReturnType<typeof usePagedList>;
  all?: boolean;
}) {
  const { t } = useI18n();
  if (!list.hasMore) return null;
  return (
    <>
      <button type="button" className="secondary" onClick={list.loadMore} disabled={list.loading}>
        {list.loading ? t('common.loading') : t('common.loadMore')}
      </button>
      {all ? (
        <button type="button" className="secondary" onClick={list.loadAll} disabled={list.loading}>
          {t('common.loadAll')}
        </button>
      ) : null}
    </>
  );
}

/**
 * The rows after a live first page (a stream topic carries a list's first page and the cursor
 * where it ends): read on demand from `after`, a page at a time; not live.
 */
export function useRowsAfter<T>(path: string, after: string | null) {
  const [opened, setOpened] = useState(false);
  const list = usePagedList<T>(opened && after ? path : null, PAGE_SIZE_MAX, after);
  return { list, open: after && !opened ? () => setOpened(true) : null };
}

/** The button that opens {@link useRowsAfter}'s rows (`label`), then "Load more", and problems. */
export function RowsAfter({
  rows,
  label,
}: {
  rows: ReturnType<typeof useRowsAfter>;
  label: string;
}) {
  return (
    <>
      <ProblemBanner problem={rows.list.problem} />
      <div className="form-row">
        {rows.open ? (
          <button type="button" className="secondary" onClick={rows.open}>
            {label}
          </button>
        ) : null}
        <LoadMore list={rows.list} />
      </div>
    </>
  );
}
