import { type Static, Type } from '@sinclair/typebox';
import {
  ADMISSION_THRESHOLDS_DEFAULT,
  type AdmissionThresholds,
} from '../core/admission-thresholds.ts';

/**
 * The `admission` section of the config file: the thresholds of the admission gate's rules
 * (decision 55). Every field is optional; what is left out keeps its default
 * (`ADMISSION_THRESHOLDS_DEFAULT`, listed in docs/operating/admission.md).
 */
export const AdmissionConfigSchema = Type.Object(
  {
    readWriteRatioAbove: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1_000 })),
    readWriteRowsMin: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000 })),
    shardingBytesAbove: Type.Optional(
      Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    ),
    shardingWritesPerSecondAbove: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
    growthHorizonDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_650 })),
    growthSampleAgeSecondsMin: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 86_400 })),
    activeActiveRtoSecondsMax: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86_400 })),
    bypassRtoSecondsBelow: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
    instancesPerDataCentreMin: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  },
  { additionalProperties: false },
);
export type AdmissionConfig = Static<typeof AdmissionConfigSchema>;

/** The thresholds `section` gives, each left out at its default. */
export function admissionThresholds(section: AdmissionConfig = {}): AdmissionThresholds {
  const given = Object.fromEntries(
    Object.entries(section).filter(([, value]) => value !== undefined),
  );
  return { ...ADMISSION_THRESHOLDS_DEFAULT, ...given };
}
