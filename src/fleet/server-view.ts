import type { CatalogSnapshot } from '../catalog/catalog-store.ts';
import type { MainstayConfig, ServerSpec } from '../config/load-config.ts';
import {
  DEFAULT_SYNCHRONOUS_COMMIT,
  postgresSynchronousCommit,
  waitsForReplica,
} from '../config/topology-config.ts';
import type { ServerSettings } from './server-files.ts';

/** A server's role and place as the catalog says now (the config's before a catalog exists). */
export interface ServerView {
  readonly role: ServerSpec['role'];
  readonly upstream: string | null;
  readonly dc: string | null;
  readonly fenced: boolean;
}

export function viewOf(id: string, snapshot: CatalogSnapshot | null, spec: ServerSpec): ServerView {
  const known = snapshot?.servers.find((server) => server.id === id);
  if (known) {
    return {
      role: known.role,
      upstream: known.upstream,
      dc: known.dc,
      fenced: known.fencedAtEpoch !== null,
    };
  }
  return { role: spec.role, upstream: spec.upstream, dc: spec.dc, fenced: false };
}

/** What the settings of one server depend on, from the fleet. */
export interface SettingsInputs {
  readonly config: MainstayConfig;
  readonly snapshot: CatalogSnapshot | null;
  readonly specs: readonly ServerSpec[];
  readonly view: ServerView;
  readonly port: number;
  /** Whether a replica may be waited for as the synchronous standby (up, not marked down). */
  standbyUsable(replicaId: string): boolean;
  /** How a replica reaches its upstream, and the slot it streams from. */
  upstreamOf(upstreamId: string): { conninfo: string; slot: string };
  slotName(serverId: string): string;
  /**
   * Whether a server is one of the configuration's. Only those may be a synchronous standby:
   * a replica added beyond them is asynchronous, so it never holds a commit and is never the
   * one a failover promotes.
   */
  configured(serverId: string): boolean;
}

/**
 * The PostgreSQL settings a supervised server gets for its current role: synchronous commit per
 * its DC (the catalog's level, else the config's), the synchronous standby and failover-slot
 * standby for a primary (its usable replica), the upstream for a replica, and read-only by
 * default while it is fenced.
 */
export function settingsForServer(id: string, inputs: SettingsInputs): ServerSettings {
  const { view, config, snapshot } = inputs;
  const dc = config.dataCentres.find((candidate) => candidate.id === view.dc);
  const level = snapshot?.dataCentres.find((d) => d.id === view.dc)?.synchronousCommit;
  const sync = level ?? dc?.synchronousCommit ?? DEFAULT_SYNCHRONOUS_COMMIT;
  let standby: string | null = null;
  if (view.role === 'primary') {
    const candidates =
      snapshot?.servers ?? inputs.specs.map((spec) => ({ ...spec, fencedAtEpoch: null }));
    standby =
      candidates.find(
        (server) =>
          server.role === 'replica' &&
          server.upstream === id &&
          server.fencedAtEpoch === null &&
          inputs.configured(server.id) &&
          inputs.standbyUsable(server.id),
      )?.id ?? null;
  }
  return {
    id,
    host: '127.0.0.1',
    port: inputs.port,
    synchronousCommit: postgresSynchronousCommit(sync),
    // Only a replica that is up is waited for: while it is down (or not rebuilt yet after a
    // promotion) the primary acknowledges commits held by itself alone (decision 32).
    synchronousStandby: standby && waitsForReplica(sync) ? standby : null,
    synchronizedStandbySlot: standby ? inputs.slotName(standby) : null,
    upstream: view.role === 'replica' && view.upstream ? inputs.upstreamOf(view.upstream) : null,
    extra: extraSettings(id, inputs),
  };
}

function extraSettings(id: string, inputs: SettingsInputs): Readonly<Record<string, string>> {
  const { view, config } = inputs;
  // An added replica is never promoted, so it keeps no copy of the failover slots.
  const added = view.role === 'replica' && !inputs.configured(id);
  return {
    ...config.postgres.settings,
    ...(added ? { sync_replication_slots: 'off' } : {}),
    // A fenced server (a lost DC's, until it is re-seeded) refuses writes by default, so
    // nothing that bypasses the routers can write to it by mistake.
    ...(view.fenced ? { default_transaction_read_only: 'on' } : {}),
  };
}
