import { randomBytes } from 'node:crypto';
import { type CatalogStore, ROOT_SECRET_FLAG } from '../catalog/catalog-store.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import { RootSecretRing, rootSecretOf } from './root-secret-ring.ts';
import type { PurposeKeys, SecretPurpose, SecretsPort } from './secrets-port.ts';

/** The catalog flag that holds the ring of root secrets once a rotation has begun. */
export const ROOT_SECRET_RING_FLAG = 'root_secret_ring';

/** What {@link ROOT_SECRET_RING_FLAG} holds: JSON, the roots as their stored text. */
interface StoredRing {
  readonly version: 1;
  readonly current: string;
  readonly roots: readonly string[];
}

/**
 * The default {@link SecretsPort}: root secrets kept in the catalog, which every process of a
 * fleet already reads. Until a first rotation the root is the secret the catalog made once, at
 * initialization ({@link ROOT_SECRET_FLAG}); afterwards it is the ring in
 * {@link ROOT_SECRET_RING_FLAG}. The ring is read once per instance; {@link CatalogSecrets.reload}
 * reads it again (a process started after a rotation step sees it at once).
 */
export class CatalogSecrets implements SecretsPort {
  readonly #catalog: CatalogStore;
  #ring: Promise<RootSecretRing> | null = null;

  constructor(catalog: CatalogStore) {
    this.#catalog = catalog;
  }

  async keysFor(purpose: SecretPurpose): Promise<PurposeKeys> {
    return (await this.ring()).keysFor(purpose);
  }

  /** The ring as last read; a failed read is not kept, so the next call tries again. */
  ring(): Promise<RootSecretRing> {
    if (this.#ring === null) {
      const loading = loadRootSecretRing(this.#catalog);
      this.#ring = loading;
      loading.catch(() => {
        if (this.#ring === loading) this.#ring = null;
      });
    }
    return this.#ring;
  }

  /** Forgets the ring read, so that the next call reads the catalog again. */
  reload(): void {
    this.#ring = null;
  }
}

/** The fleet's root secrets from the catalog. */
export async function loadRootSecretRing(catalog: CatalogStore): Promise<RootSecretRing> {
  const stored = await catalog.getFlag(ROOT_SECRET_RING_FLAG);
  if (stored !== null) return parseRing(stored);
  const original = await catalog.getFlag(ROOT_SECRET_FLAG);
  if (original === null) {
    throw new MainstayError('catalog_unavailable', 'the catalog holds no root secret yet');
  }
  const root = rootSecretOf(original);
  return new RootSecretRing([root], root.id, root.secret);
}

/**
 * Rotation, step 1: adds a fresh random root, accepted but not current, and returns its id.
 * Then restart (or reload) every process, and promote it with {@link promoteRootSecret}.
 * Rotation steps are an operator's, one at a time: the catalog's flags are last-writer-wins.
 */
export async function addRootSecret(catalog: CatalogStore): Promise<string> {
  const root = rootSecretOf(randomBytes(32).toString('base64url'));
  await storeRing(catalog, (await loadRootSecretRing(catalog)).withRoot(root));
  return root.id;
}

/** Rotation, step 2: new signatures and new keys use root `id`; the others stay accepted. */
export async function promoteRootSecret(catalog: CatalogStore, id: string): Promise<void> {
  await storeRing(catalog, (await loadRootSecretRing(catalog)).withCurrent(id));
}

/** Rotation, step 3: root `id` (not the current one) is no longer accepted. */
export async function retireRootSecret(catalog: CatalogStore, id: string): Promise<void> {
  await storeRing(catalog, (await loadRootSecretRing(catalog)).without(id));
}

/** The flag's text for `ring`. */
export function serializeRing(ring: RootSecretRing): string {
  const stored: StoredRing = {
    version: 1,
    current: ring.current.id,
    roots: ring.roots.map((root) => root.secret.toString('utf8')),
  };
  return JSON.stringify(stored);
}

/** Parses the flag's text; anything else than what {@link serializeRing} writes is refused. */
export function parseRing(text: string): RootSecretRing {
  const invalid = (why: string, cause?: unknown) =>
    new MainstayError('config_invalid', `catalog flag ${ROOT_SECRET_RING_FLAG} ${why}`, { cause });
  let parsed: Partial<StoredRing>;
  try {
    parsed = JSON.parse(text) as Partial<StoredRing>;
  } catch (error) {
    throw invalid('is not JSON', error);
  }
  const { version, current, roots } = parsed;
  if (version !== 1 || typeof current !== 'string' || !Array.isArray(roots)) {
    throw invalid('has no usable ring');
  }
  try {
    return new RootSecretRing(
      roots.map((root: unknown) => {
        if (typeof root !== 'string') throw new RangeError('a root secret is not text');
        return rootSecretOf(root);
      }),
      current,
      null,
    );
  } catch (error) {
    throw invalid(
      `is not a valid ring: ${error instanceof Error ? error.message : String(error)}`,
      error,
    );
  }
}

async function storeRing(catalog: CatalogStore, ring: RootSecretRing): Promise<void> {
  await catalog.setFlag(ROOT_SECRET_RING_FLAG, serializeRing(ring));
}
