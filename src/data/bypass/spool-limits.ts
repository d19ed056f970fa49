import { checkIntegerOptions } from '../../errors/integer-options.ts';
import { FRAME_PAYLOAD_BYTES_MAX } from './spool-frame.ts';

const KIB = 1024;
const MIB = 1024 * KIB;

/** Where a bypass spool lives and the bounds it keeps. Every bound has a default. */
export interface BypassSpoolOptions {
  /** Directory of the spool file; created if missing. */
  readonly dir: string;
  /** The file is `<dir>/<name>.spool`: letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  /** Largest serialised entry record. Default 64 KiB. */
  readonly recordBytesMax?: number;
  /** Largest spool file, counting the ack every pending entry still needs. Default 256 MiB. */
  readonly spoolBytesMax?: number;
  /** Most entries queued behind an in-flight fsync. Default 10,000. */
  readonly appendQueueMax?: number;
  /** How many acknowledged ids are remembered to catch duplicate appends. Default 100,000. */
  readonly acknowledgedIdsMax?: number;
  /**
   * With nothing pending, a file this large is compacted. Default 1 MiB; never more than half
   * of `spoolBytesMax`, so a small spool that filled up frees itself once replayed.
   */
  readonly compactBytesMin?: number;
}

/** The options' bounds with defaults applied. */
export type SpoolLimits = Required<Omit<BypassSpoolOptions, 'dir' | 'name'>>;

/** Bytes the group-commit writer puts in one write + fdatasync. */
export const BATCH_BYTES_MAX = 4 * MIB;

/** Acks a replay writes before awaiting them: they share fsyncs by group commit. */
export const REPLAY_ACKS_IN_FLIGHT_MAX = 64;

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Applies defaults and checks the options. A bad option is a programmer error (the options come
 * from code or a validated config), so it throws a `RangeError`, not a catalogue error.
 */
export function spoolLimits(options: BypassSpoolOptions): SpoolLimits {
  if (typeof options.name !== 'string' || !NAME_PATTERN.test(options.name)) {
    throw new RangeError(`bypass spool name ${JSON.stringify(options.name)} is not a plain name`);
  }
  const limits: SpoolLimits = {
    recordBytesMax: options.recordBytesMax ?? 64 * KIB,
    spoolBytesMax: options.spoolBytesMax ?? 256 * MIB,
    appendQueueMax: options.appendQueueMax ?? 10_000,
    acknowledgedIdsMax: options.acknowledgedIdsMax ?? 100_000,
    compactBytesMin: options.compactBytesMin ?? 1 * MIB,
  };
  checkIntegerOptions('bypass spool option', limits, 0);
  if (limits.recordBytesMax < 1 || limits.recordBytesMax > FRAME_PAYLOAD_BYTES_MAX) {
    throw new RangeError(`bypass spool recordBytesMax must be 1 to ${FRAME_PAYLOAD_BYTES_MAX}`);
  }
  if (limits.appendQueueMax < 1) throw new RangeError('bypass spool appendQueueMax must be >= 1');
  return limits;
}
