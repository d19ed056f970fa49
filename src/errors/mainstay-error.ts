import { type ErrorCode, errorSpecOf } from './error-catalogue.ts';

/** One invalid field of a request or config, located by a JSON pointer. */
export interface FieldError {
  readonly pointer: string;
  readonly detail: string;
}

/**
 * The exception type for infrastructure faults and rejected input. Business outcomes are values,
 * never a `MainstayError`. The `code` ties it to the catalogue, which gives its HTTP status.
 */
export class MainstayError extends Error {
  readonly code: ErrorCode;
  readonly errors: readonly FieldError[];

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; errors?: readonly FieldError[] } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'MainstayError';
    this.code = code;
    this.errors = options.errors ?? [];
  }

  /** The HTTP status the catalogue assigns to this error's code. */
  get status(): number {
    return errorSpecOf(this.code).status;
  }
}

/** Whether a value is a {@link MainstayError}, optionally with a given code. */
export function isMainstayError(value: unknown, code?: ErrorCode): value is MainstayError {
  return value instanceof MainstayError && (code === undefined || value.code === code);
}
