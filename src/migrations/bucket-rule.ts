/**
 * How a shard table's rows map to buckets, declared by the migration set that creates the table,
 * so that a bucket can move to another shard with every row that belongs to it and no other
 * (decision 58). A closed set of kinds:
 *
 * - `key`: the column holds the row's shard key (an entity id, or any key the router hashes,
 *   after an optional `prefix` the router's key adds); the bucket is computed from it exactly
 *   as the router computes it.
 * - `bucket`: the column holds the bucket number itself.
 * - `shard`: the rows belong to the shard, not to a bucket (reference data present on every
 *   shard, a per-shard hash chain): they stay where they are.
 * - `copy`: the rows cannot be attributed, but copying them is harmless and leaving them
 *   behind is not (idempotency records: a retry after the move must find its first answer).
 *   Every row is copied to the target and kept on the source.
 * - `pinned`: the rows stay with the shard (they are not the bucket's alone: a ledger's books),
 *   but each names buckets through its `columns` (keys as the router hashes them, each with an
 *   optional prefix the router's key adds): a move refuses while any row names the moving
 *   bucket, and after it the source refuses new rows naming the bucket (the fence).
 * - `unattributed`: the rows cannot be attributed and must not be copied; a move refuses
 *   while the source shard holds any. A table no set declares counts as this.
 *
 * @example
 * loadMigrationSet('demo', url, { demo_customers: { kind: 'bucket', column: 'bucket' } });
 */
export const BUCKET_RULE_KINDS = [
  'key',
  'bucket',
  'shard',
  'copy',
  'pinned',
  'unattributed',
] as const;
export type BucketRuleKind = (typeof BUCKET_RULE_KINDS)[number];

export type BucketRule =
  | {
      readonly kind: 'key';
      readonly column: string;
      /** What the router's key adds before the column's value (`ledger_window:`). */
      readonly prefix?: string;
    }
  | { readonly kind: 'bucket'; readonly column: string }
  | { readonly kind: 'shard' }
  | { readonly kind: 'copy' }
  | {
      readonly kind: 'pinned';
      /** Columns holding keys; a row names the bucket of each non-null one. */
      readonly columns: readonly PinnedColumn[];
      /** Why the rows cannot move with a bucket (shown when a move is refused). */
      readonly reason: string;
      /**
       * Whether rows change after they are written in ways a carrier must see (a transfer's
       * state): a move then logs every update of a row naming its bucket, not only one of its
       * key columns. Left out for rows updated on every write (an account's totals), whose
       * updates would cost the fence a trigger call each.
       */
      readonly updatesLogged?: boolean;
    }
  | { readonly kind: 'unattributed'; readonly reason: string };

/** A column of a `pinned` rule: its name, or its name and the prefix the router's key adds. */
export type PinnedColumn = string | { readonly column: string; readonly prefix: string };

/** Rules by table name (in schema `public`). */
export type BucketRules = Readonly<Record<string, BucketRule>>;

/**
 * Every rule the sets declare, by table. A table declared twice with different rules is a
 * programming error.
 */
export function bucketRulesOf(
  sets: readonly { readonly name: string; readonly bucketRules?: BucketRules }[],
): ReadonlyMap<string, BucketRule> {
  const rules = new Map<string, BucketRule>();
  for (const set of sets) {
    for (const [table, rule] of Object.entries(set.bucketRules ?? {})) {
      const known = rules.get(table);
      if (known && JSON.stringify(known) !== JSON.stringify(rule))
        throw new Error(`table ${table} has two bucket rules (set ${set.name})`);
      rules.set(table, rule);
    }
  }
  return rules;
}
