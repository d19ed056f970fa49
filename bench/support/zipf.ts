/**
 * A Zipf sampler over ranks 0..n-1: rank r is drawn with probability proportional to
 * 1 / (r + 1)^s. Double-11 card popularity is skewed this way (a few cards and one merchant take
 * a large share). Built once (a cumulative table), sampled by binary search, seeded so that two
 * runs draw the same sequence.
 */
export class ZipfSampler {
  readonly #cumulative: Float64Array;
  #state: number;

  constructor(n: number, s: number, seed = 42) {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`n must be a positive integer`);
    this.#cumulative = new Float64Array(n);
    let total = 0;
    for (let rank = 0; rank < n; rank += 1) {
      total += 1 / (rank + 1) ** s;
      this.#cumulative[rank] = total;
    }
    for (let rank = 0; rank < n; rank += 1) {
      this.#cumulative[rank] = (this.#cumulative[rank] as number) / total;
    }
    this.#state = seed >>> 0 || 1;
  }

  /** A uniform number in [0, 1) from a xorshift32 generator (seeded, reproducible). */
  uniform(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state / 4_294_967_296;
  }

  /** The next rank. */
  next(): number {
    const u = this.uniform();
    let low = 0;
    let high = this.#cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((this.#cumulative[middle] as number) < u) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The share of draws that rank `rank` gets. */
  share(rank: number): number {
    const upTo = this.#cumulative[rank] ?? 1;
    const below = rank === 0 ? 0 : (this.#cumulative[rank - 1] ?? 0);
    return upTo - below;
  }
}
