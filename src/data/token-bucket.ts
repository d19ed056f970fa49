/**
 * A token bucket: at most `ratePerSecond` takes per second on average, with bursts up to
 * `burstMax`. Used to cap how many reads may fall back to a primary when replicas lag, so a lag
 * spike cannot turn into a read storm that flattens the primary.
 */
export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burstMax: number;
  #tokens: number;
  #refilledAt: number;

  constructor(ratePerSecond: number, burstMax = ratePerSecond) {
    this.ratePerSecond = ratePerSecond;
    this.burstMax = burstMax;
    this.#tokens = burstMax;
    this.#refilledAt = Date.now();
  }

  /** Takes one token if there is one. */
  tryTake(now = Date.now()): boolean {
    const elapsed = Math.max(0, now - this.#refilledAt) / 1000;
    this.#tokens = Math.min(this.burstMax, this.#tokens + elapsed * this.ratePerSecond);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
