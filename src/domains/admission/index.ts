/** The admission domain's public surface (decision 55). */

export type { AdmissionDecision } from './core/admission-decision.ts';
export { decideAdmission } from './core/admission-decision.ts';
export type { AdmissionRecord } from './core/admission-gate.ts';
export { AdmissionGate } from './core/admission-gate.ts';
export { ADMISSION_THRESHOLDS_DEFAULT } from './core/admission-thresholds.ts';
export { type ChangeRequest, checkChangeRequest } from './core/change-request.ts';
export { admissionModule, type RunningAdmission } from './module.ts';
