/**
 * Loaded before the test runner with `--import` (every test file's process inherits it), as
 * `npm test` does (compiled: `--import ./.test-build/test/support/ram-temp-dir.js`), or by hand:
 * `node --import tsx --import ./test/support/ram-temp-dir.ts --test test/<file>.test.ts`.
 * Points the system temp directory (`TMPDIR`, which `os.tmpdir()` and the child processes the
 * tests start read) at a folder on a RAM-backed file system when the machine has one with room,
 * so the tests' homes (every fleet's data directories, the template fleets, the environments)
 * are written to memory instead of disk. The servers are the same real PostgreSQL servers; what
 * changes is that their writes and fsyncs never wait for the disk, and that making and deleting
 * a fleet's few hundred megabytes costs the kernel far less (docs/ARCHITECTURE.md, decision 14).
 * Without such a file system (or with less room than {@link ROOM_BYTES_MIN}) nothing changes. `MAINSTAY_TEST_TMPDIR` set to a folder uses that one
 * instead; set to `off`, the usual one.
 */
import { chmodSync, mkdirSync, statfsSync } from 'node:fs';
import path from 'node:path';

/** Linux's shared-memory file system, where distributions mount a tmpfs. */
const RAM_MOUNTS = ['/dev/shm', '/run/shm'];
/** `statfs` type of tmpfs. */
const TMPFS_MAGIC = 0x01021994;
/** Room the suite needs at once: two test files' fleets, the templates, the environments. */
const ROOM_BYTES_MIN = 8 * 1024 ** 3;
/** The folder made on that file system, shared by every test run (templates are kept there). */
const FOLDER = 'mainstay-tests';
/** Set once the folder is chosen, so test files' processes keep what the runner chose. */
const CHOSEN = 'MAINSTAY_TEST_TMPDIR';

function ramTempDir(): string | null {
  for (const mount of RAM_MOUNTS) {
    try {
      const stats = statfsSync(mount);
      if (stats.type !== TMPFS_MAGIC || stats.bavail * stats.bsize < ROOM_BYTES_MIN) continue;
      const dir = path.join(mount, FOLDER);
      mkdirSync(dir, { recursive: true });
      // As /tmp: anyone may make a folder in it (the servers' OS user reaches its home).
      chmodSync(dir, 0o1777);
      return dir;
    } catch {
      // Not mounted here, or not writable: try the next one.
    }
  }
  return null;
}

const chosen = process.env[CHOSEN];
if (chosen === undefined) {
  const dir = ramTempDir();
  process.env[CHOSEN] = dir ?? 'off';
  if (dir) process.env.TMPDIR = dir;
} else if (chosen !== 'off') {
  process.env.TMPDIR = chosen;
}
