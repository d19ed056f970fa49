/**
 * PostgreSQL WAL positions (LSNs) as `bigint`. PostgreSQL writes them as two hex halves,
 * `16/B374D848`; comparing them as strings is wrong, so everything here converts first.
 */

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** Parses PostgreSQL's text form; `null` when the text is not an LSN. */
export function parseLsn(text: string): bigint | null {
  const match = LSN_PATTERN.exec(text);
  if (!match?.[1] || !match[2]) return null;
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Formats as PostgreSQL does (`16/B374D848`). */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The later of two optional positions. */
export function maxLsn(a: bigint | null | undefined, b: bigint | null | undefined): bigint | null {
  if (a == null) return b ?? null;
  if (b == null) return a;
  return a > b ? a : b;
}
