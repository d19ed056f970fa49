/**
 * Gathers calls that arrive while a round trip is in flight into the next one, as group commit
 * does: the first call goes out at once (no timer, no added latency when idle), and under load
 * every round trip carries whatever queued behind the one before, up to `batchSizeMax` items.
 * Used by the shared recent-write store, so its cost grows with round trips, not with reads.
 */
export class Coalescer<I, R> {
  readonly #send: (items: readonly I[]) => Promise<readonly R[]>;
  readonly #batchSizeMax: number;
  #queue: { item: I; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  #inFlight = false;
  /** Round trips sent, for the router's stats. */
  roundTrips = 0;

  /**
   * @param send one round trip for a batch, answering per item in order (or rejecting: then
   *   every item of the batch is rejected with that error).
   */
  constructor(send: (items: readonly I[]) => Promise<readonly R[]>, batchSizeMax: number) {
    this.#send = send;
    this.#batchSizeMax = batchSizeMax;
  }

  /** Items waiting for the next round trip. */
  get queued(): number {
    return this.#queue.length;
  }

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#inFlight) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#inFlight = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#batchSizeMax);
        this.roundTrips += 1;
        try {
          const results = await this.#send(batch.map((waiting) => waiting.item));
          for (const [index, waiting] of batch.entries()) waiting.resolve(results[index] as R);
        } catch (error) {
          for (const waiting of batch) waiting.reject(error);
        }
      }
    } finally {
      this.#inFlight = false;
    }
  }
}
