import type { CatalogServer, CatalogShard, CatalogSnapshot } from '../catalog/catalog-store.ts';
import { primaryOf } from '../catalog/primary-of.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { CopySite, ReseedPools } from './dc-reseed-copy.ts';
import type { Fleet } from './fleet.ts';

/** What a re-seed will do: the returning servers, the loss it follows, the copies to re-seed. */
export interface Plan {
  readonly snapshot: CatalogSnapshot;
  readonly primary: CatalogServer;
  readonly replica: CatalogServer | null;
  readonly lossEpoch: number;
  readonly shards: readonly { readonly shard: CatalogShard; readonly site: CopySite }[];
}

/** A refused precondition: nothing was changed. */
export function conflict(message: string, cause?: unknown): MainstayError {
  return new MainstayError('state_conflict', message, { cause });
}

/**
 * Checks the preconditions and lists the copies to re-seed; `null` when there is nothing to
 * do. Every refusal is a `state_conflict` thrown before anything was changed.
 */
export async function planReseed(
  fleet: Fleet,
  dc: string,
  options: { readonly failover?: { idle(): Promise<void> } },
  pools: ReseedPools,
): Promise<Plan | null> {
  const snapshot = await fleet.refreshCatalog();
  if (!snapshot) throw new MainstayError('catalog_unavailable', 'the catalog is empty');
  if (!snapshot.dataCentres.some((d) => d.id === dc))
    throw new MainstayError('resource_not_found', `there is no data centre ${dc}`);
  const quarantined = snapshot.shards.filter(
    (s) => s.copyDc === dc && s.copyState === 'quarantined',
  );
  const servers = snapshot.servers.filter((s) => s.dc === dc);
  const fenced = servers.filter((s) => s.fencedAtEpoch !== null);
  if (quarantined.length === 0 && fenced.length === 0) return null;
  if (options.failover && !(await isIdle(options.failover)))
    throw conflict('the failover controller is handling a failure; try again when it is done');
  const homedHere = snapshot.shards.filter((s) => s.homeDc === dc);
  if (homedHere.length > 0)
    throw conflict(
      `shards ${homedHere.map((s) => s.id).join(', ')} are still homed in ${dc}: only a data centre whose shards moved away can be re-seeded`,
    );
  if (quarantined.length === 0)
    throw conflict(
      `servers ${fenced.map((s) => s.id).join(', ')} are fenced but no copy in ${dc} is quarantined: this is not a returning data centre (see "Recover a fenced server by hand")`,
    );
  const primary = servers.find((s) => s.role === 'primary');
  if (!primary) throw conflict(`the catalog names no primary in ${dc}`);
  await assertAnswers(pools, primary.id, false);
  const lossEpoch = primary.fencedAtEpoch ?? Math.max(...quarantined.map((s) => s.lineageEpoch));
  const shards = [];
  for (const shard of quarantined) {
    const home = primaryOf(snapshot, shard.homeDc);
    if (!home) throw conflict(`shard ${shard.id} has no unfenced primary in ${shard.homeDc}`);
    await assertAnswers(pools, home, false);
    const preservedAs = `${shard.database}_lost_e${lossEpoch}`;
    shards.push({
      shard,
      site: { database: shard.database, returning: primary.id, home, preservedAs },
    });
  }
  const replica =
    servers.find(
      (s) => s.role === 'replica' && s.upstream === primary.id && fleet.isConfigured(s.id),
    ) ?? null;
  return { snapshot, primary, replica, lossEpoch, shards };
}

/** Whether the controller's queue is empty: a settled promise's callback runs before a macrotask. */
async function isIdle(failover: { idle(): Promise<void> }): Promise<boolean> {
  let settled = false;
  void failover.idle().then(() => {
    settled = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

async function assertAnswers(pools: ReseedPools, serverId: string, recovery: boolean) {
  let inRecovery: boolean | undefined;
  try {
    const { rows } = await pools
      .pool(serverId)
      .query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    inRecovery = rows[0]?.r;
  } catch (error) {
    throw conflict(
      `server ${serverId} does not answer: start it (restart Mainstay) before re-seeding`,
      error,
    );
  }
  if (inRecovery !== recovery)
    throw conflict(`server ${serverId} is ${inRecovery ? 'a standby' : 'not a standby'}`);
}
