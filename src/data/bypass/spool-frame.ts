import { MainstayError } from '../../errors/mainstay-error.ts';
import { crc32c } from './crc32.ts';

/**
 * The on-disk frame of the bypass spool. A spool file is nothing but frames, back to back:
 *
 * | offset | size | field                                                         |
 * |--------|------|---------------------------------------------------------------|
 * | 0      | 1    | magic and format version: `0xB1` (a new version gets a new byte) |
 * | 1      | 1    | frame type: `1` = entry, `2` = ack                            |
 * | 2      | 4    | payload length in bytes, u32 little-endian                    |
 * | 6      | 4    | CRC-32C over bytes 1..5 (type + length) then the payload, u32 LE |
 * | 10     | n    | payload: UTF-8 JSON (an entry record, or `{"id": ...}` for an ack) |
 *
 * Why a length and a checksum on every frame: a crash mid-write leaves a frame cut short or
 * half on disk, and open must tell that torn tail (safe to cut away: it was never acknowledged)
 * from a damaged frame in the middle (corruption an operator must see). The checksum covers the
 * type and length as well, so a flipped length cannot make open skip or swallow frames.
 */
export const FRAME_MAGIC = 0xb1;

/** Bytes before the payload: magic, type, length, checksum. */
export const FRAME_HEADER_BYTES = 10;

/**
 * The largest payload the format allows, whatever a spool's `recordBytesMax`: open rejects a
 * length above it at once instead of checksumming megabytes of garbage.
 */
export const FRAME_PAYLOAD_BYTES_MAX = 16 * 1024 * 1024;

/** The frame types: a recorded operation, or the acknowledgement that it reached the database. */
export const FRAME_TYPES = ['entry', 'ack'] as const;
export type FrameType = (typeof FRAME_TYPES)[number];

const TYPE_CODE: Record<FrameType, number> = { entry: 1, ack: 2 };

function frameTypeOf(code: number): FrameType | undefined {
  return FRAME_TYPES.find((type) => TYPE_CODE[type] === code);
}

/** One frame read back from a spool file. `payload` is a view into the file's buffer. */
export interface SpoolFrame {
  readonly type: FrameType;
  readonly offset: number;
  readonly bytes: number;
  readonly payload: Buffer;
}

/** Encodes one frame, header and payload, ready to append. */
export function encodeFrame(type: FrameType, payload: Uint8Array): Buffer {
  if (payload.length > FRAME_PAYLOAD_BYTES_MAX) {
    throw new RangeError(`a spool frame payload is at most ${FRAME_PAYLOAD_BYTES_MAX} bytes`);
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame[0] = FRAME_MAGIC;
  frame[1] = TYPE_CODE[type];
  frame.writeUInt32LE(payload.length, 2);
  frame.set(payload, FRAME_HEADER_BYTES);
  frame.writeUInt32LE(crc32c(payload, crc32c(frame.subarray(1, 6))), 6);
  return frame;
}

type FrameRead =
  | { readonly status: 'ok'; readonly frame: SpoolFrame }
  | { readonly status: 'bad'; readonly reason: string };

/** Reads the frame that starts at `offset`, or says why there is no valid frame there. */
export function readFrameAt(buffer: Buffer, offset: number): FrameRead {
  if (buffer.length - offset < FRAME_HEADER_BYTES) {
    return { status: 'bad', reason: 'the frame header is cut short' };
  }
  if (buffer[offset] !== FRAME_MAGIC) return { status: 'bad', reason: 'bad magic byte' };
  const type = frameTypeOf(buffer[offset + 1] as number);
  if (type === undefined) return { status: 'bad', reason: 'unknown frame type' };
  const length = buffer.readUInt32LE(offset + 2);
  if (length > FRAME_PAYLOAD_BYTES_MAX) return { status: 'bad', reason: 'impossible length' };
  const end = offset + FRAME_HEADER_BYTES + length;
  if (end > buffer.length) return { status: 'bad', reason: 'the frame payload is cut short' };
  const payload = buffer.subarray(offset + FRAME_HEADER_BYTES, end);
  const expected = crc32c(payload, crc32c(buffer.subarray(offset + 1, offset + 6)));
  if (buffer.readUInt32LE(offset + 6) !== expected) {
    return { status: 'bad', reason: 'checksum mismatch' };
  }
  return { status: 'ok', frame: { type, offset, bytes: end - offset, payload } };
}

/** The result of scanning a whole spool file. */
export interface FrameScan {
  readonly frames: readonly SpoolFrame[];
  /** Bytes of intact frames from the start: where the file should end. */
  readonly validBytes: number;
  /** Bytes after them: a torn tail that open cuts away. */
  readonly tornBytes: number;
}

/**
 * Scans a spool file's bytes from the start. The first bad frame ends the scan; if any valid
 * frame starts anywhere after it, the damage is not a torn tail but corruption, and the scan
 * throws `bypass_spool_corrupt` naming `file` and the byte offset. Searching every later offset
 * (not only where the bad frame's length points) is what keeps a damaged length field from
 * passing for a torn tail and silently dropping the frames after it.
 */
export function scanFrames(buffer: Buffer, file: string): FrameScan {
  const frames: SpoolFrame[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    const read = readFrameAt(buffer, offset);
    if (read.status === 'bad') {
      const next = nextValidFrameAfter(buffer, offset);
      if (next !== undefined) {
        throw new MainstayError(
          'bypass_spool_corrupt',
          `bypass spool ${file}: the frame at byte offset ${offset} is damaged (${read.reason}) ` +
            `and a valid frame follows at byte offset ${next}; not a torn tail, refusing to open`,
        );
      }
      return { frames, validBytes: offset, tornBytes: buffer.length - offset };
    }
    frames.push(read.frame);
    offset += read.frame.bytes;
  }
  return { frames, validBytes: offset, tornBytes: 0 };
}

function nextValidFrameAfter(buffer: Buffer, offset: number): number | undefined {
  for (let at = buffer.indexOf(FRAME_MAGIC, offset + 1); at !== -1; ) {
    if (readFrameAt(buffer, at).status === 'ok') return at;
    at = buffer.indexOf(FRAME_MAGIC, at + 1);
  }
  return undefined;
}
