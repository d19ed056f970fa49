import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** How much compaction buffers before each write of the temporary file. */
const COMPACTION_CHUNK_BYTES = 1024 * 1024;

/**
 * Writes `frames` to `tmpFile` and syncs it. Nothing is replaced yet, so on failure the live
 * spool is intact: the temporary file is removed and the error rethrown.
 */
export async function writeCompactedFile(
  tmpFile: string,
  frames: Iterable<Buffer>,
): Promise<number> {
  const handle = await open(tmpFile, 'w');
  let sizeBytes = 0;
  try {
    let chunk: Buffer[] = [];
    let chunkBytes = 0;
    for (const frame of frames) {
      chunk.push(frame);
      chunkBytes += frame.length;
      if (chunkBytes >= COMPACTION_CHUNK_BYTES) {
        await writeAll(handle, Buffer.concat(chunk, chunkBytes));
        sizeBytes += chunkBytes;
        chunk = [];
        chunkBytes = 0;
      }
    }
    await writeAll(handle, Buffer.concat(chunk, chunkBytes));
    sizeBytes += chunkBytes;
    await handle.datasync();
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(tmpFile, { force: true });
    throw error;
  }
  await handle.close();
  return sizeBytes;
}

/**
 * Renames the synced temporary file over the spool file, syncs the directory so the rename
 * itself survives a power loss, and opens the new file for appending. A crash at any point
 * leaves either the old file or the new one, both complete.
 */
export async function installCompactedFile(tmpFile: string, file: string): Promise<FileHandle> {
  await rename(tmpFile, file);
  await syncDirectory(path.dirname(file));
  return open(file, 'a');
}

/** `fsync` on a directory: makes file creations and renames in it durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let written = 0; written < data.length; ) {
    const result = await handle.write(data, written, data.length - written);
    written += result.bytesWritten;
  }
}
