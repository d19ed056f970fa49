/**
 * The admission gate's own error codes (decision 55), registered with the catalogue when this
 * file loads. A malformed change request is the catalogue's `invalid_request` (a field the schema
 * refuses, with its pointer); these are what the schema cannot say.
 */
import { type ErrorSpec, registerErrorCodes } from '../../errors/error-catalogue.ts';

/** The codes, each with its status and a line for the errors reference. */
export const ADMISSION_ERRORS = {
  change_request_invalid: {
    status: 422,
    title: 'Change request invalid',
    definite: true,
    doc: 'Each field of the change request is well formed, but together they cannot hold: a table or service named twice, rows stated without `rowBytes`, an RPO above the RTO. `errors[]` points at each. Nothing was recorded.',
  },
  fleet_statistics_unavailable: {
    status: 503,
    title: 'Fleet statistics unavailable',
    definite: true,
    doc: 'No server of the fleet answered when the admission gate read its statistics, so there is nothing to decide on. Nothing was recorded; retry after Retry-After.',
  },
} as const satisfies Record<string, ErrorSpec>;

declare module '../../errors/error-catalogue.ts' {
  interface ModuleErrorCodes {
    change_request_invalid: true;
    fleet_statistics_unavailable: true;
  }
}

registerErrorCodes('admission', ADMISSION_ERRORS);
