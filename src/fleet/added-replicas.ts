import type { CatalogChange, CatalogSnapshot } from '../catalog/catalog-store.ts';
import { primaryOf } from '../catalog/primary-of.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { Fleet } from './fleet.ts';
import { verifyReplica } from './replica-verify.ts';

/**
 * The catalog entries that go with a promotion in a DC: every added replica of the old primary
 * now follows the new one and is fenced, in the same epoch, because its copy followed a
 * timeline the promotion ended (it may even hold WAL the promoted server never had). Routers
 * stop reading from it at that epoch; {@link rejoinAddedReplicas} rebuilds it.
 */
export function addedReplicasRepointed(
  fleet: Pick<Fleet, 'isConfigured'>,
  snapshot: CatalogSnapshot,
  oldPrimary: string,
  newPrimary: string,
): NonNullable<CatalogChange['servers']> {
  return snapshot.servers
    .filter((s) => s.role === 'replica' && s.upstream === oldPrimary && !fleet.isConfigured(s.id))
    .map((s) => ({ id: s.id, upstream: newPrimary, fenced: true }));
}

/**
 * Brings back every added replica that is fenced or follows another server than its DC's
 * current primary: re-pointed (fenced) in the catalog, rebuilt from that primary, checked to
 * stream and replay, then unfenced. Run after a failover or switchover completes, at restart,
 * and by `rebuild-replica` on an added replica. A DC without an unfenced primary (lost) is
 * skipped: its added replicas stay fenced. Safe to run again. Returns the servers rebuilt.
 */
export async function rejoinAddedReplicas(fleet: Fleet, only?: string): Promise<string[]> {
  if (fleet.isExternal) return [];
  const snapshot = await fleet.refreshCatalog();
  const rejoined: string[] = [];
  for (const server of snapshot?.servers ?? []) {
    if (only !== undefined && server.id !== only) continue;
    if (server.role !== 'replica' || fleet.isConfigured(server.id) || !fleet.server(server.id))
      continue;
    const primary = snapshot && server.dc ? primaryOf(snapshot, server.dc) : undefined;
    if (!primary) continue;
    const current = server.fencedAtEpoch === null && server.upstream === primary;
    if (current && only === undefined) continue;
    await rejoinOne(fleet, server.id, primary);
    rejoined.push(server.id);
  }
  return rejoined;
}

async function rejoinOne(fleet: Fleet, server: string, primary: string): Promise<void> {
  await fleet.catalog.commitChange(`${server} fenced to be rebuilt from ${primary}`, {
    servers: [{ id: server, upstream: primary, fenced: true }],
  });
  await fleet.refreshCatalog();
  await fleet.rebuildReplica(server);
  const verification = await verifyReplica(fleet, {
    server,
    upstream: primary,
    synchronous: false,
  });
  if (!verification.ok)
    throw new MainstayError(
      'state_conflict',
      `${server} was rebuilt from ${primary} but stays fenced: ${verification.problems.join('; ')}`,
    );
  await fleet.catalog.commitChange(`${server} rebuilt as replica of ${primary}: reads`, {
    servers: [{ id: server, fenced: false }],
  });
  await fleet.refreshCatalog();
}
