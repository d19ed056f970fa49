/**
 * `sign-off`: a step that records that a named check was done, with its evidence (a report, a
 * review, a ticket of the bank's own), by the person who approves the step. A workflow puts it
 * behind approver roles, so the run cannot go past it until a second person signs.
 */
import { Type } from '@sinclair/typebox';
import type { StepModule } from '../../../workflow/workflow-types.ts';

const SignOffInput = Type.Object(
  {
    check: Type.String({ minLength: 1, maxLength: 200, description: 'What is signed off.' }),
    evidence: Type.String({ minLength: 1, maxLength: 2000, description: 'Where the proof is.' }),
  },
  { additionalProperties: false },
);

export const signOffModule: StepModule<
  { check: string; evidence: string },
  { check: string; evidence: string; at: string }
> = {
  name: 'sign-off',
  summary:
    'Records that a check was done, with its evidence, once a second person approves the step',
  inputSchema: SignOffInput,
  async execute(input, context) {
    await context.log(`${input.check}: signed off (${input.evidence})`);
    return { check: input.check, evidence: input.evidence, at: new Date().toISOString() };
  },
};
