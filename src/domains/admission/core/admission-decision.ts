/**
 * The admission gate's rules (decision 55): a pure function from a change request, what was
 * measured on the fleet and the thresholds, to a decision. Level 1: which triggers the request
 * states, so whether it is reviewed at all, with a reason for each trigger not met. Level 2: for
 * each data pattern, whether the change must adopt it (`required`), should (`recommended`), or
 * need not (`not_required`), each finding with the figures it rests on.
 */
import type { AdmissionThresholds } from './admission-thresholds.ts';
import { activeActiveRule, bypassRule, statelessRedundancyRule } from './availability-rules.ts';
import { ADMISSION_TRIGGERS, type AdmissionTrigger, type ChangeRequest } from './change-request.ts';
import { readWriteSplittingRule, shardingRule } from './data-pattern-rules.ts';
import { type Finding, PATTERN_STATUSES, type PatternStatus } from './finding.ts';
import type { FleetStatistics, ReplicationLag, TableFigures } from './fleet-statistics.ts';

/** The level-2 patterns, in the order a decision lists them. */
export const ADMISSION_PATTERNS = [
  'read_write_splitting',
  'sharding',
  'active_active',
  'stateless_redundancy',
  'bypass',
] as const;
export type AdmissionPattern = (typeof ADMISSION_PATTERNS)[number];

/** One pattern: its status (the strongest of its findings) and the findings. */
export interface PatternDecision {
  readonly pattern: AdmissionPattern;
  readonly status: PatternStatus;
  readonly findings: readonly Finding[];
}

/** One level-1 trigger: whether the request states it, and why that matters or not. */
export interface TriggerFinding {
  readonly trigger: AdmissionTrigger;
  readonly met: boolean;
  readonly reason: string;
}

/** What the gate answers, and records. */
export interface AdmissionDecision {
  readonly reviewRequired: boolean;
  readonly reviewReason: string;
  readonly triggers: readonly TriggerFinding[];
  readonly patterns: readonly PatternDecision[];
  /** The figures the findings cite: the request's tables as measured, and the lag. */
  readonly measured: {
    readonly takenAt: string;
    readonly serversRead: readonly string[];
    readonly serversUnreachable: readonly string[];
    readonly tables: readonly TableFigures[];
    readonly replication: readonly ReplicationLag[];
  };
  readonly thresholds: AdmissionThresholds;
}

/** What each trigger means, as the reason given when the request does not state it. */
const TRIGGER_ABSENT: Readonly<Record<AdmissionTrigger, string>> = {
  new_system: 'not stated: the change builds no new system',
  large_refactor: 'not stated: the change is no large refactoring of an existing system',
  new_framework: 'not stated: the change brings in no new framework',
  new_equipment: 'not stated: the change brings in no new equipment (servers, storage, network)',
  new_technology:
    'not stated: the change brings in no new technology (database, middleware, language)',
  call_relations: 'not stated: the change adds or alters no call relation between systems',
};

const TRIGGER_PRESENT: Readonly<Record<AdmissionTrigger, string>> = {
  new_system: 'stated: a new system',
  large_refactor: 'stated: a large refactoring of an existing system',
  new_framework: 'stated: a new framework',
  new_equipment: 'stated: new equipment',
  new_technology: 'stated: a new technology',
  call_relations: 'stated: call relations between systems are added or altered',
};

/**
 * Decides on `request` with what `measured` shows. Pure: the same inputs give the same decision,
 * so a recorded decision can be checked again against its recorded figures.
 */
export function decideAdmission(
  request: ChangeRequest,
  measured: FleetStatistics,
  thresholds: AdmissionThresholds,
): AdmissionDecision {
  const stated = new Set(request.triggers);
  const triggers = ADMISSION_TRIGGERS.map((trigger) => ({
    trigger,
    met: stated.has(trigger),
    reason: stated.has(trigger) ? TRIGGER_PRESENT[trigger] : TRIGGER_ABSENT[trigger],
  }));
  const named = new Set(request.tables.map((table) => table.name));
  const tables = measured.tables.filter((figures) => named.has(figures.table));
  const byTable = new Map(tables.map((figures) => [figures.table, figures]));
  const context = { request, byTable, measured, thresholds };
  const patterns = [
    pattern('read_write_splitting', readWriteSplittingRule(context)),
    pattern('sharding', shardingRule(context)),
    pattern('active_active', activeActiveRule(context)),
    pattern('stateless_redundancy', statelessRedundancyRule(context)),
    pattern('bypass', bypassRule(context)),
  ];
  const met = triggers.filter((finding) => finding.met).map((finding) => finding.trigger);
  return {
    reviewRequired: met.length > 0,
    reviewReason:
      met.length > 0
        ? `level-1 triggers stated (${met.join(', ')}): the change is reviewed before release and must adopt every pattern marked required`
        : 'no level-1 trigger is stated: the change needs no data-architecture review; the level-2 findings are advice',
    triggers,
    patterns,
    measured: {
      takenAt: measured.takenAt,
      serversRead: measured.serversRead,
      serversUnreachable: measured.serversUnreachable,
      tables,
      replication: measured.replication,
    },
    thresholds,
  };
}

function pattern(name: AdmissionPattern, findings: readonly Finding[]): PatternDecision {
  const rank = (status: PatternStatus) => PATTERN_STATUSES.indexOf(status);
  const strongest = findings.reduce<PatternStatus>(
    (best, finding) => (rank(finding.status) < rank(best) ? finding.status : best),
    'not_required',
  );
  return { pattern: name, status: strongest, findings };
}
