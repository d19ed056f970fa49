/**
 * The admission gate as a service (decision 55): checks a change request, measures the fleet,
 * decides with {@link decideAdmission} and records the decision, once per idempotency key. The
 * HTTP routes call it, and so can a release pipeline in the same process
 * (`platform.modules.get(admissionModule).gate.evaluate(...)`).
 */
import { fingerprintOf } from '../../../data/idempotency.ts';
import type { Page } from '../../../data/write-contract.ts';
import { isMainstayError, MainstayError } from '../../../errors/mainstay-error.ts';
import { type AdmissionDecision, decideAdmission } from './admission-decision.ts';
import type { AdmissionThresholds } from './admission-thresholds.ts';
import { type ChangeRequest, checkChangeRequest } from './change-request.ts';
import {
  type FleetStatistics,
  sampleOf,
  type TableFigures,
  type TableSample,
  withHistory,
} from './fleet-statistics.ts';

/** A recorded decision: the request as checked, and what the gate answered. */
export interface AdmissionRecord {
  /** `adm_…`, sortable by creation time. */
  readonly id: string;
  readonly createdAt: string;
  /** Who asked: the credential's subject over HTTP, the caller's name for a pipeline. */
  readonly requestedBy: string;
  readonly request: ChangeRequest;
  readonly decision: AdmissionDecision;
}

/** Where the figures come from: the fleet's statistics views (`store/`). */
export interface StatisticsSource {
  /** Per-table figures without growth (the gate adds it from its samples), and the lag. */
  measure(): Promise<FleetStatistics>;
}

/** A first write's claim: a retry by the same caller with the same key answers the first. */
export interface AdmissionClaim {
  readonly requestedBy: string;
  readonly idempotencyKey: string;
  readonly fingerprint: string;
}

/** Where decisions and size samples are kept (the catalog database, `store/`). */
export interface AdmissionRecords {
  /** The decision first recorded under `claim`'s caller and key, with its fingerprint. */
  find(
    requestedBy: string,
    idempotencyKey: string,
  ): Promise<{ record: AdmissionRecord; fingerprint: string } | null>;
  /** The latest sample of each table taken at or before `before`. */
  samplesBefore(before: Date): Promise<TableSample[]>;
  /**
   * Records the decision and the samples in one transaction; `null` when another call recorded
   * one under the same claim first (nothing of this call is kept then).
   */
  insert(
    record: AdmissionRecord,
    claim: AdmissionClaim,
    samples: readonly TableSample[],
  ): Promise<AdmissionRecord | null>;
  get(id: string): Promise<AdmissionRecord | null>;
  list(limit: number, startingAfter: string | null): Promise<Page<AdmissionRecord>>;
}

/** Who asks, under which key. */
export interface AdmissionContext {
  readonly requestedBy: string;
  readonly idempotencyKey: string;
}

/** What a gate did since its process started, for `/metrics`. */
export interface AdmissionStats {
  /** Decisions taken and recorded. */
  decided: number;
  /** Retries answered from a recorded decision. */
  replayed: number;
  /** Requests refused as malformed or invalid (nothing recorded). */
  refused: number;
  /** Evaluations that failed on the fleet or the catalog (nothing recorded). */
  failed: number;
}

/** The gate: decides on change requests with the fleet's figures, and keeps its decisions. */
export class AdmissionGate {
  readonly #source: StatisticsSource;
  readonly #records: AdmissionRecords;
  readonly #thresholds: AdmissionThresholds;
  readonly #newId: () => string;
  readonly stats: AdmissionStats = { decided: 0, replayed: 0, refused: 0, failed: 0 };

  constructor(
    source: StatisticsSource,
    records: AdmissionRecords,
    thresholds: AdmissionThresholds,
    newId: () => string,
  ) {
    this.#source = source;
    this.#records = records;
    this.#thresholds = thresholds;
    this.#newId = newId;
  }

  get thresholds(): AdmissionThresholds {
    return this.#thresholds;
  }

  /**
   * Decides on `input` and records the decision. A retry with the same key and request answers
   * the first decision (`replayed: true`), not a new measurement; the same key with another
   * request is `idempotency_key_reused`. A malformed request is `invalid_request` or
   * `change_request_invalid`, and nothing is recorded.
   */
  async evaluate(
    input: unknown,
    context: AdmissionContext,
  ): Promise<{ record: AdmissionRecord; replayed: boolean }> {
    let request: ChangeRequest;
    try {
      request = checkChangeRequest(input);
    } catch (error) {
      this.stats.refused += 1;
      throw error;
    }
    try {
      const answer = await this.#decide(request, context);
      if (answer.replayed) this.stats.replayed += 1;
      else this.stats.decided += 1;
      return answer;
    } catch (error) {
      if (isMainstayError(error, 'idempotency_key_reused')) this.stats.refused += 1;
      else this.stats.failed += 1;
      throw error;
    }
  }

  async #decide(
    request: ChangeRequest,
    context: AdmissionContext,
  ): Promise<{ record: AdmissionRecord; replayed: boolean }> {
    const claim = { ...context, fingerprint: fingerprintOf(request) };
    const first = await this.#replay(claim);
    if (first) return { record: first, replayed: true };
    const statistics = await this.measure();
    const record: AdmissionRecord = {
      id: this.#newId(),
      createdAt: statistics.takenAt,
      requestedBy: context.requestedBy,
      request,
      decision: decideAdmission(request, statistics, this.#thresholds),
    };
    const samples = statistics.tables.map((figures) => sampleOf(figures, statistics.takenAt));
    const inserted = await this.#records.insert(record, claim, samples);
    if (inserted) return { record: inserted, replayed: false };
    const raced = await this.#replay(claim);
    if (!raced) throw new MainstayError('internal_error', 'a claimed decision has no record');
    return { record: raced, replayed: true };
  }

  /** The fleet's figures now, each table's growth and traffic window measured from its samples. */
  async measure(): Promise<FleetStatistics> {
    const raw = await this.#source.measure();
    const ageMs = this.#thresholds.growthSampleAgeSecondsMin * 1000;
    const previous = await this.#records.samplesBefore(new Date(Date.parse(raw.takenAt) - ageMs));
    const tables: TableFigures[] = withHistory(raw.tables, previous, raw.takenAt);
    return { ...raw, tables };
  }

  async get(id: string): Promise<AdmissionRecord> {
    const record = await this.#records.get(id);
    if (!record) throw new MainstayError('resource_not_found', `no admission request ${id}`);
    return record;
  }

  list(limit: number, startingAfter: string | null): Promise<Page<AdmissionRecord>> {
    return this.#records.list(limit, startingAfter);
  }

  async #replay(claim: AdmissionClaim): Promise<AdmissionRecord | null> {
    const found = await this.#records.find(claim.requestedBy, claim.idempotencyKey);
    if (!found) return null;
    if (found.fingerprint !== claim.fingerprint) {
      throw new MainstayError(
        'idempotency_key_reused',
        `idempotency key "${claim.idempotencyKey}" was already used with a different change request`,
      );
    }
    return found.record;
  }
}
