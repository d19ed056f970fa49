import type { MainstayConfig, ServerSpec } from '../config/load-config.ts';
import { MainstayError } from '../errors/mainstay-error.ts';
import type { AddedServer } from './fleet-state.ts';

/** Bounds on the servers added beyond the configuration. */
export const ADDED_SERVERS = {
  /**
   * Added servers (spares and replicas) per data centre at most: each replica holds a physical
   * slot and a WAL sender on its primary, which has 16 of each for everything.
   */
  perDcCountMax: 4,
} as const;

/**
 * The specs of the servers added beyond the configuration. A replica streams from its DC's
 * primary (the catalog's upstream wins once it holds the server). A spare runs standalone,
 * writable and empty, with no upstream; the catalog does not know it, so it gets no traffic.
 */
export function addedSpecs(
  config: MainstayConfig,
  added: Readonly<Record<string, AddedServer>>,
): ServerSpec[] {
  return Object.entries(added).map(([id, server]) => {
    const dc = config.dataCentres.find((candidate) => candidate.id === server.dc);
    const replica = server.kind === 'replica';
    return {
      id,
      dc: server.dc,
      role: replica ? 'replica' : 'primary',
      port: null,
      external: null,
      upstream: replica ? (dc?.primary.id ?? null) : null,
    };
  });
}

/** The data centre `dc` of the configuration; `data_centre_unknown` naming the known ones. */
export function requireDataCentre(config: MainstayConfig, dc: string): void {
  const known = config.dataCentres.map((candidate) => candidate.id);
  if (!known.includes(dc))
    throw new MainstayError(
      'data_centre_unknown',
      `no data centre "${dc}" in this fleet (it has ${known.join(', ')})`,
    );
}

/**
 * The id of the next server added in `dc`: `<dc>-r<n>`, `n` one past the highest ever used
 * there that the state or catalog still holds. Throws `state_conflict` at the bound.
 */
export function nextAddedId(
  dc: string,
  added: Readonly<Record<string, AddedServer>>,
  catalogIds: readonly string[],
): string {
  const inDc = Object.values(added).filter((server) => server.dc === dc).length;
  if (inDc >= ADDED_SERVERS.perDcCountMax)
    throw new MainstayError(
      'state_conflict',
      `${dc} has ${inDc} added servers already, the most it may have (${ADDED_SERVERS.perDcCountMax}); remove one first`,
    );
  const pattern = new RegExp(`^${dc}-r(\\d+)$`);
  const used = [...Object.keys(added), ...catalogIds].flatMap((id) => {
    const match = pattern.exec(id);
    return match?.[1] ? [Number(match[1])] : [];
  });
  return `${dc}-r${Math.max(0, ...used) + 1}`;
}
