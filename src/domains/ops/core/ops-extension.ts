/**
 * What an entry point may add to the ops module: step modules built from the modules started
 * before it (a link reaches another domain's services there, as decision 42 has it), and
 * workflows that use them. The release pipeline, which calls the admission gate, is one.
 */
import type { FleetHost, RunningModules } from '../../../platform/domain-module.ts';
import type { StepModule, WorkflowDefinition } from '../../../workflow/workflow-types.ts';

export interface OpsExtension {
  /** The extension's modules; `host` is absent in a process without the fleet. */
  modules(started: RunningModules | undefined, host: FleetHost | undefined): StepModule[];
  readonly workflows: readonly WorkflowDefinition[];
}
