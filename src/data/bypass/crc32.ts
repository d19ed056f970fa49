/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, one byte at a time.
 *
 * Why our own: `zlib.crc32` only arrived in Node 22.2 and Mainstay runs on Node 20. Why
 * Castagnoli rather than the zlib polynomial: it detects more error patterns in the frame sizes
 * the spool writes, and it is the checksum iSCSI, ext4 and Kafka record batches use, so tools
 * to check a spool by hand are easy to find. Why not faster (slicing-by-8): the spool checks at
 * most a few hundred MiB once at open; the simple loop keeps the code obviously right.
 */
const CASTAGNOLI_REFLECTED = 0x82f63b78;

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ CASTAGNOLI_REFLECTED : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * The CRC-32C of `bytes`. Pass a previous result as `crc` to continue over a second range, so a
 * checksum can cover fields that are not adjacent in memory:
 *
 * @example
 * crc32c(Buffer.from('123456789')) === 0xe3069283;
 * crc32c(b, crc32c(a)) === crc32c(Buffer.concat([a, b]));
 */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    c = (TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  }
  return ~c >>> 0;
}
