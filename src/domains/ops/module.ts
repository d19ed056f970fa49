/**
 * The ops module (decision 54): atomic fleet and data operations as step modules, composed into
 * workflows that run on the durable workflow engine, with maker-checker on sensitive steps and
 * every action in the audit trail. Runs live in the catalog database, so every API process lists
 * them and takes decisions; the process that supervises the fleet (`mainstay up`) is the worker
 * that runs them, since its steps act on the servers it owns.
 */
import { AuditLog } from '../../audit/audit-log.ts';
import type {
  DomainModule,
  FleetHost,
  RunningModule,
  RunningModules,
} from '../../platform/domain-module.ts';
import { guardedPool } from '../../postgres/guarded-pool.ts';
import { WorkflowEngine } from '../../workflow/workflow-engine.ts';
import { WORKFLOW_MIGRATIONS } from '../../workflow/workflow-store.ts';
import type { StepModule } from '../../workflow/workflow-types.ts';
import { OPS_SCOPES, registerOpsRoutes } from './api/ops-routes.ts';
import { opsStreamTopics } from './api/ops-topics.ts';
import { moveBucketModule } from './core/bucket-steps.ts';
import { compareModule, repairModule } from './core/data-steps.ts';
import { compareShardsModule, dcSwitchoverModule } from './core/dc-switchover-steps.ts';
import { checkFleetModule, failoverDrillModule, rebuildReplicaModule } from './core/fleet-steps.ts';
import {
  backupModule,
  removeRestoredModule,
  restoreModule,
  switchoverModule,
} from './core/operation-steps.ts';
import { auditOpsAction } from './core/ops-audit.ts';
import type { OpsExtension } from './core/ops-extension.ts';
import { OPS_WORKFLOWS } from './core/ops-workflows.ts';
import {
  addReplicaModule,
  provisionServerModule,
  removeReplicaModule,
} from './core/server-steps.ts';
import { signOffModule } from './core/sign-off-step.ts';
import { OPS_ERRORS } from './errors.ts';

/** The running ops module: its engine, for entry points and tests. */
export interface RunningOps extends RunningModule {
  readonly engine: WorkflowEngine;
}

/** The step modules, each acting on the fleet `host`. */
export function opsModules(host: FleetHost): StepModule[] {
  return [
    checkFleetModule(host),
    compareModule(host.fleet),
    repairModule(host.fleet),
    rebuildReplicaModule(host),
    failoverDrillModule(host),
    switchoverModule(host),
    dcSwitchoverModule(host),
    compareShardsModule(host.fleet),
    backupModule(host),
    restoreModule(host),
    removeRestoredModule(host),
    provisionServerModule(host),
    addReplicaModule(host),
    removeReplicaModule(host),
    moveBucketModule(host),
    signOffModule,
  ] as StepModule[];
}

/** Catalogue-only modules for a process without the fleet: listed and started, never run there. */
function describedModules(): StepModule[] {
  return opsModules({ fleet: null as never, controller: null });
}

/**
 * The ops module with what the entry point adds (`extensions`: modules and workflows that reach
 * other domains, such as the release pipeline's admission step).
 */
export function createOpsModule(
  extensions: readonly OpsExtension[] = [],
): DomainModule<RunningOps> {
  const workflows = [...OPS_WORKFLOWS, ...extensions.flatMap((extension) => extension.workflows)];
  const modulesOf = (context: { started?: RunningModules; fleetHost?: FleetHost }) => [
    ...(context.fleetHost ? opsModules(context.fleetHost) : describedModules()),
    ...extensions.flatMap((extension) => extension.modules(context.started, context.fleetHost)),
  ];
  return {
    name: 'ops',
    shardMigrations: [],
    catalogMigrations: [WORKFLOW_MIGRATIONS],
    errors: OPS_ERRORS,
    scopes: OPS_SCOPES,
    async start(context) {
      const pool = guardedPool({
        ...context.catalogConnection,
        max: 4,
        application_name: 'mainstay-ops',
      });
      const audit = new AuditLog(context.router);
      const engine = new WorkflowEngine({
        pool,
        connection: context.catalogConnection,
        workflows,
        modules: modulesOf(context),
        worker: context.fleetHost !== undefined,
        onAction: (action) => auditOpsAction(audit, action),
      });
      await engine.start();
      return {
        engine,
        routes: async (app) => registerOpsRoutes(app, engine),
        streamTopics: () => opsStreamTopics(engine),
        async stop() {
          await engine.stop();
          await audit.close();
          await pool.end();
        },
      };
    },
    async describeRoutes(app) {
      const engine = new WorkflowEngine({
        pool: null as never,
        connection: {},
        workflows,
        modules: modulesOf({}),
        worker: false,
      });
      registerOpsRoutes(app, engine);
    },
  };
}
