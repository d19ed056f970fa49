/**
 * The vocabulary every admission rule answers in (decision 55): a finding's status, and what a
 * rule is given.
 */
import type { AdmissionThresholds } from './admission-thresholds.ts';
import type { ChangeRequest } from './change-request.ts';
import type { FleetStatistics, TableFigures } from './fleet-statistics.ts';

/** Strongest first: a pattern's status is the strongest of its findings. */
export const PATTERN_STATUSES = ['required', 'recommended', 'not_required'] as const;
export type PatternStatus = (typeof PATTERN_STATUSES)[number];

/** One finding: about a table, a service, or the change as a whole (`subject: null`). */
export interface Finding {
  readonly subject: string | null;
  readonly status: PatternStatus;
  readonly reason: string;
}

/** What every rule is given. */
export interface RuleContext {
  readonly request: ChangeRequest;
  /** The measured figures of the tables the request names, by `schema.name`. */
  readonly byTable: ReadonlyMap<string, TableFigures>;
  readonly measured: FleetStatistics;
  readonly thresholds: AdmissionThresholds;
}

/** `1234567` as `1,234,567`: figures people read in a reason. */
export function count(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** Bytes as people read them: `12.3 GiB`. */
export function bytes(value: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let scaled = value;
  let unit = 0;
  while (Math.abs(scaled) >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? scaled : scaled.toFixed(1)} ${units[unit]}`;
}
