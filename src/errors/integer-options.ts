/**
 * The one check of an integer option (a count, a size, a duration in milliseconds): a safe
 * integer at or above `min`, else a RangeError naming the option. Options are the caller's to
 * get right, so this is a programming error, not a problem document.
 */
export function checkIntegerOption(name: string, value: unknown, min: 0 | 1): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    const kind = min === 1 ? 'a positive' : 'a non-negative';
    throw new RangeError(`${name} must be ${kind} safe integer`);
  }
}

/** {@link checkIntegerOption} for each entry of `options`, named `${prefix} ${key}`. */
export function checkIntegerOptions(prefix: string, options: object, min: 0 | 1): void {
  for (const [key, value] of Object.entries(options)) {
    checkIntegerOption(`${prefix} ${key}`, value, min);
  }
}
