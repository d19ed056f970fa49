/**
 * The ops module's error codes. Its refusals use the catalogue's general codes: `workflow_unknown`,
 * `module_unknown` and `preflight_refused` (the workflow engine's, decision 54), the approvals'
 * `approval_self`, `approval_role_missing` and `approval_decided`, and `invalid_request`.
 */
import type { ErrorSpec } from '../../errors/error-catalogue.ts';

export const OPS_ERRORS: Readonly<Record<string, ErrorSpec>> = {};
