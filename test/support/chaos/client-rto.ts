/**
 * Client-seen RTO: per operation and fault, the longest a client waited from the first try of
 * an operation to its definite answer, across timeouts and retries. An operation belongs to the
 * fault in force when its wait ended (a wait that spans a fault is that fault's doing).
 */
import type { Operation, OperationRecord } from './client-ledger.ts';
import type { InjectedFault } from './fault-injector.ts';

export interface RtoCell {
  /** Longest wait for a definite answer, or for giving up (`null`: no operation). */
  readonly waitMsMax: number | null;
  readonly count: number;
  /** Operations that never got a definite answer. */
  readonly gaveUp: number;
}

export interface RtoRow {
  readonly fault: string;
  readonly cells: Readonly<Record<Operation, RtoCell>>;
}

/** A fault's label in the report: `#2 hang_primary dc1 (dc1-b, 4,000 ms)`. */
export function faultLabel(fault: InjectedFault, index: number): string {
  const held = fault.kind === 'hang_primary' || fault.kind === 'pause_replay';
  const parts = [...fault.servers, ...(held ? [`${fault.holdMs} ms`] : [])];
  return `#${index + 1} ${fault.kind} ${fault.dc} (${parts.join(', ')})`;
}

/** One row per injected fault (and one for before the first), one cell per operation. */
export function rtoRows(
  operations: readonly OperationRecord[],
  faults: readonly InjectedFault[],
): RtoRow[] {
  const injected = faults
    .map((fault, index) => ({ fault, index }))
    .filter((entry) => entry.fault.injectedAt !== null);
  const windows = [
    { label: 'before the first fault', from: Number.NEGATIVE_INFINITY },
    ...injected.map((entry) => ({
      label: faultLabel(entry.fault, entry.index),
      from: entry.fault.injectedAt ?? 0,
    })),
  ];
  return windows.map((window, n) => {
    const until = windows[n + 1]?.from ?? Number.POSITIVE_INFINITY;
    const inWindow = operations.filter((op) => op.endedAt >= window.from && op.endedAt < until);
    const of = (name: Operation) => cellOf(inWindow.filter((op) => op.op === name));
    const cells: Record<Operation, RtoCell> = {
      authorize: of('authorize'),
      capture: of('capture'),
      reversal: of('reversal'),
      bind: of('bind'),
      list: of('list'),
      transfer: of('transfer'),
    };
    return { fault: window.label, cells };
  });
}

function cellOf(operations: readonly OperationRecord[]): RtoCell {
  let waitMsMax: number | null = null;
  for (const op of operations) waitMsMax = Math.max(waitMsMax ?? 0, op.endedAt - op.startedAt);
  return {
    waitMsMax,
    count: operations.length,
    gaveUp: operations.filter((op) => !op.answered).length,
  };
}

/** The cell as the report prints it: `2,310 ms` or `9,800 ms (3 gave up)`. */
export function formatCell(cell: RtoCell): string {
  if (cell.waitMsMax === null) return '-';
  const wait = `${Math.round(cell.waitMsMax).toLocaleString('en-US')} ms`;
  return cell.gaveUp > 0 ? `${wait} (${cell.gaveUp} gave up)` : wait;
}
