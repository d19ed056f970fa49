/**
 * The admission module (decision 55): the data-architecture admission gate of the release
 * process. A change request states what it is and its data profile; the gate reads the fleet's
 * statistics, answers which data patterns the change must adopt and why, and records the
 * decision in the catalog database. The platform hosts it without naming it.
 */
import { newEntityId } from '../../data/entity-id.ts';
import type { DomainModule, RunningModule } from '../../platform/domain-module.ts';
import { guardedPool } from '../../postgres/guarded-pool.ts';
import { ADMISSION_SCOPES, registerAdmissionRoutes } from './api/admission-routes.ts';
import {
  type AdmissionConfig,
  AdmissionConfigSchema,
  admissionThresholds,
} from './config/admission-config.ts';
import { AdmissionGate } from './core/admission-gate.ts';
import { ADMISSION_ERRORS } from './errors.ts';
import { ADMISSION_MIGRATIONS } from './sql/admission-migrations.ts';
import { AdmissionStore } from './store/admission-store.ts';
import { FleetStatisticsReader } from './store/fleet-statistics-reader.ts';

/** Connections of one process's pool to the catalog database, for the gate's records. */
const CATALOG_POOL_SIZE_MAX = 2;

/**
 * The prefix of a decision's id. Decisions live in the catalog, not on a shard, so the bucket an
 * entity id carries is 0 and routes nothing; the id keeps its creation-time order.
 */
export const ADMISSION_ID_PREFIX = 'adm';

/** The running module: `gate` is the service a release pipeline calls. */
export interface RunningAdmission extends RunningModule {
  readonly gate: AdmissionGate;
}

/** The admission gate as a module: its catalog tables, scopes, error codes, config and routes. */
export const admissionModule: DomainModule<RunningAdmission> = {
  name: 'admission',
  configSection: { key: 'admission', schema: AdmissionConfigSchema },
  shardMigrations: [],
  catalogMigrations: [ADMISSION_MIGRATIONS],
  errors: ADMISSION_ERRORS,
  scopes: ADMISSION_SCOPES,
  async start(context) {
    const thresholds = admissionThresholds((context.section ?? {}) as AdmissionConfig);
    const pool = guardedPool({ ...context.catalogConnection, max: CATALOG_POOL_SIZE_MAX });
    const gate = new AdmissionGate(
      new FleetStatisticsReader(context.router),
      new AdmissionStore(pool),
      thresholds,
      () => newEntityId(ADMISSION_ID_PREFIX, 0),
    );
    return {
      gate,
      async routes(app) {
        registerAdmissionRoutes(app, gate, context.router);
      },
      metrics({ counter }) {
        counter(
          'mainstay_admission_requests_total',
          'Change requests the admission gate answered, by outcome.',
          ['outcome'],
          (metric) => {
            for (const [outcome, value] of Object.entries(gate.stats))
              metric.inc({ outcome }, value);
          },
        );
      },
      async stop() {
        await pool.end();
      },
    };
  },
  async describeRoutes(app) {
    registerAdmissionRoutes(
      app,
      new Proxy({} as AdmissionGate, {
        get: () => () => Promise.reject(new Error('the admission gate is not running')),
      }),
      null,
    );
  },
};
