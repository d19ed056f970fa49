/**
 * The figures the admission rules compare against (decision 55). Each has a default a bank's
 * architecture board would accept for a start; the `admission` section of the config file
 * changes them (docs/operating/admission.md says when to).
 */
export interface AdmissionThresholds {
  /** Read/write splitting when rows read per row written exceed this (4, the 4:1 rule). */
  readonly readWriteRatioAbove: number;
  /** Rows read plus written below which a measured ratio is not trusted (1,000). */
  readonly readWriteRowsMin: number;
  /** A table projected above this many bytes must be sharded (100 GiB). */
  readonly shardingBytesAbove: number;
  /** A table stated to take more writes a second than this must be sharded (2,000). */
  readonly shardingWritesPerSecondAbove: number;
  /** How far ahead sizes are projected from their growth, in days (365). */
  readonly growthHorizonDays: number;
  /** The youngest previous sample growth is measured against, in seconds (3,600). */
  readonly growthSampleAgeSecondsMin: number;
  /**
   * An RTO at or below this needs active-active: recovery in a standby data centre (restore,
   * re-point, warm up) does not fit in it (300 s).
   */
  readonly activeActiveRtoSecondsMax: number;
  /**
   * A money path with an RTO below this needs a bypass: an in-DC failover (fence, promote,
   * re-route) takes longer than that, and the writes must still be taken (30 s).
   */
  readonly bypassRtoSecondsBelow: number;
  /** Instances of a service each data centre runs at least (2). */
  readonly instancesPerDataCentreMin: number;
}

/** The defaults, each explained on {@link AdmissionThresholds}. */
export const ADMISSION_THRESHOLDS_DEFAULT: AdmissionThresholds = {
  readWriteRatioAbove: 4,
  readWriteRowsMin: 1_000,
  shardingBytesAbove: 100 * 1024 ** 3,
  shardingWritesPerSecondAbove: 2_000,
  growthHorizonDays: 365,
  growthSampleAgeSecondsMin: 3_600,
  activeActiveRtoSecondsMax: 300,
  bypassRtoSecondsBelow: 30,
  instancesPerDataCentreMin: 2,
};
