import { randomFillSync } from 'node:crypto';
import { formatEntityId } from '../../../data/entity-id.ts';

/** Random bytes per id (what `newEntityId` draws). */
const ID_RANDOM_BYTES = 10;
/** Random bytes drawn per refill of the pool: 512 ids. */
const POOL_BYTES = ID_RANDOM_BYTES * 512;

/**
 * Mints `auth_…` ids on the engine's hot path with the one id formatter (`formatEntityId`),
 * drawing their 10 random bytes from a pool refilled 512 ids at a time instead of one
 * `randomBytes` call per id (profiled at ~7 us per authorization). Same layout, same 80 bits
 * from the CSPRNG per id; each byte of the pool is used once.
 */
export class AuthorizationIdMinter {
  readonly #pool = Buffer.alloc(POOL_BYTES);
  #offset = POOL_BYTES;

  /** A new `auth_…` id in `bucket`. */
  mint(bucket: number): string {
    if (this.#offset + ID_RANDOM_BYTES > POOL_BYTES) {
      randomFillSync(this.#pool);
      this.#offset = 0;
    }
    const random = this.#pool.subarray(this.#offset, this.#offset + ID_RANDOM_BYTES);
    this.#offset += ID_RANDOM_BYTES;
    return formatEntityId('auth', bucket, Date.now(), random);
  }
}
