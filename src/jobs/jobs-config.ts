import { type Static, Type } from '@sinclair/typebox';

/** Idempotency records are kept a week unless the config file says otherwise. */
export const IDEMPOTENCY_RETENTION_DAYS_DEFAULT = 7;
/** Longest retention the config file may ask for (the table grows with it). */
export const IDEMPOTENCY_RETENTION_DAYS_MAX = 365;

/**
 * The `jobs` section of the config file: settings of the background jobs the platform runs.
 * `idempotencyRetentionDays`: how long a write's idempotency record is kept before the pruning
 * job deletes it, in whole days, at least 1 (the API promises 24 hours).
 */
export const JobsConfigSchema = Type.Object(
  {
    idempotencyRetentionDays: Type.Optional(
      Type.Integer({ minimum: 1, maximum: IDEMPOTENCY_RETENTION_DAYS_MAX }),
    ),
  },
  { additionalProperties: false },
);

/** The section as written: everything optional. */
export type JobsConfig = Static<typeof JobsConfigSchema>;

/** The section with its defaults applied. */
export interface JobsSettings {
  readonly idempotencyRetentionDays: number;
}

/** Applies the defaults to the section as the file gives it (already checked by the schema). */
export function jobsSettings(config: JobsConfig | undefined): JobsSettings {
  return {
    idempotencyRetentionDays:
      config?.idempotencyRetentionDays ?? IDEMPOTENCY_RETENTION_DAYS_DEFAULT,
  };
}
