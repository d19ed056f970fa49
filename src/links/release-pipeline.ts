/**
 * The release pipeline of the seed's bank, as an ops workflow (decisions 54 and 55): admission
 * (the data-architecture gate decides which patterns the change must adopt), non-functional
 * requirements, non-functional tests, code review, a pre-deployment check, the deployment, a
 * post-deployment check. The reviews and the deployment are sign-offs behind a second person;
 * the checks look at the fleet itself. Neither the ops nor the admission domain imports the
 * other; this entry-point file names both, and the entry point hands it to the ops module.
 */
import { type Static, Type } from '@sinclair/typebox';
import { admissionModule } from '../domains/admission/module.ts';
import type { OpsExtension } from '../domains/ops/core/ops-extension.ts';
import { OPS_APPROVER_ROLES } from '../domains/ops/core/ops-roles.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { RunningModules } from '../platform/domain-module.ts';
import type { StepDefinition, StepModule } from '../workflow/workflow-types.ts';

const Evidence = Type.String({ minLength: 1, maxLength: 2000 });

const ReleaseInput = Type.Object(
  {
    changeRequest: Type.Record(Type.String(), Type.Unknown(), {
      description: 'The change request for the admission gate (`POST /v1/admission/requests`).',
    }),
    version: Type.String({ minLength: 1, maxLength: 100, description: 'What is released.' }),
    evidence: Type.Object(
      {
        nonFunctionalRequirements: Evidence,
        nonFunctionalTests: Evidence,
        codeReview: Evidence,
      },
      { additionalProperties: false, description: 'Where the proof of each review is.' },
    ),
  },
  { additionalProperties: false },
);
type ReleaseInput = Static<typeof ReleaseInput>;

interface AdmissionOutput {
  readonly decisionId: string;
  readonly reviewRequired: boolean;
  readonly required: readonly string[];
}

/** `admission-review`: the change request put to the admission gate; its decision recorded. */
function admissionStep(
  started: RunningModules | undefined,
): StepModule<{ changeRequest: unknown }, AdmissionOutput> {
  return {
    name: 'admission-review',
    summary:
      'Puts a change request to the admission gate and records which data patterns it must adopt',
    inputSchema: Type.Object({ changeRequest: Type.Unknown() }, { additionalProperties: false }),
    attemptsMax: 2,
    async execute(input, context) {
      if (!started)
        throw new MainstayError(
          'service_unavailable',
          'the admission gate is not running in this process',
        );
      const { gate } = started.get(admissionModule);
      const { record } = await gate.evaluate(input.changeRequest, {
        requestedBy: context.startedBy,
        idempotencyKey: `${context.runId}:admission`,
      });
      const required = record.decision.patterns
        .filter((p) => p.status === 'required')
        .map((p) => p.pattern);
      await context.log(
        `admission ${record.id}: review ${record.decision.reviewRequired ? 'required' : 'not required'}; must adopt: ${required.join(', ') || 'nothing'}`,
      );
      return { decisionId: record.id, reviewRequired: record.decision.reviewRequired, required };
    },
  };
}

const at = (input: unknown) => input as ReleaseInput;

function signOff(
  name: string,
  check: string,
  evidence: (input: ReleaseInput) => string,
): StepDefinition {
  return {
    name,
    module: 'sign-off',
    input: (run) => ({ check, evidence: evidence(at(run)) }),
    approverRoles: OPS_APPROVER_ROLES,
  };
}

export const releasePipeline: OpsExtension = {
  modules: (started) => [admissionStep(started) as StepModule],
  workflows: [
    {
      name: 'release-pipeline',
      summary:
        'Admission, non-functional requirements, non-functional tests, code review, pre-deployment check, deployment and post-deployment check of one release',
      inputSchema: ReleaseInput,
      steps: [
        {
          name: 'admission',
          module: 'admission-review',
          input: (run) => ({ changeRequest: at(run).changeRequest }),
        },
        signOff(
          'non-functional-requirements',
          'non-functional requirements',
          (run) => run.evidence.nonFunctionalRequirements,
        ),
        signOff(
          'non-functional-tests',
          'non-functional tests',
          (run) => run.evidence.nonFunctionalTests,
        ),
        signOff('code-review', 'code review', (run) => run.evidence.codeReview),
        { name: 'pre-deployment-check', module: 'check-fleet', input: () => ({}) },
        signOff('deploy', 'deployment', (run) => `release ${run.version}`),
        { name: 'post-deployment-check', module: 'check-fleet', input: () => ({}) },
      ],
    },
  ],
};
