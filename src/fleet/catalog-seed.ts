import type { CatalogSeed } from '../catalog/catalog-store.ts';
import type { MainstayConfig, ServerSpec } from '../config/load-config.ts';

/**
 * The catalog's first contents, from the configuration: data centres with their commit levels,
 * every server in its provisioned role at its address, the shards and their bucket ranges.
 */
export function catalogSeed(
  config: MainstayConfig,
  specs: readonly ServerSpec[],
  addressOf: (serverId: string) => { readonly host: string; readonly port: number },
): CatalogSeed {
  return {
    bucketCount: config.bucketCount,
    dataCentres: config.dataCentres.map((dc) => ({
      id: dc.id,
      synchronousCommit: dc.synchronousCommit,
    })),
    servers: specs.map((spec) => {
      const { host, port } = addressOf(spec.id);
      return { id: spec.id, dc: spec.dc, role: spec.role, upstream: spec.upstream, host, port };
    }),
    shards: config.shards.map(({ id, database, homeDc, copyDc }) => ({
      id,
      database,
      homeDc,
      copyDc,
    })),
    buckets: config.shards.map((shard) => ({
      shardId: shard.id,
      first: shard.buckets[0],
      last: shard.buckets[1],
    })),
  };
}
