import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TableHash } from './table-hashes.ts';

/** File name of a backup's manifest, at the top of its directory. */
export const MANIFEST_FILE = 'manifest.json';
/** Sub-directories of a backup: the data directory's copy and the WAL to restore it. */
export const BACKUP_DATA_DIR = 'data';
export const BACKUP_WAL_DIR = 'wal';

/** One file of a backup, as written. */
export interface BackupFile {
  /** Relative to the backup directory, with `/`. */
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** What a backup holds and where its WAL begins and ends. */
export interface BackupManifest {
  readonly format: 1;
  readonly server: string;
  readonly label: string;
  readonly systemIdentifier: string;
  readonly postgresMajor: number;
  readonly timeline: number;
  /** `pg_backup_start`'s position: the redo point the restore starts from. */
  readonly startLsn: string;
  /** `pg_backup_stop`'s position: the restore is consistent from here. */
  readonly stopLsn: string;
  /**
   * The restore point after the stop where a restore ends, and every table's contents exactly
   * there (table-hashes.ts): what a restored server must hold.
   */
  readonly restorePoint: { readonly name: string; readonly lsn: string };
  readonly tables: readonly TableHash[];
  readonly walSegmentBytes: number;
  /** WAL segment files from the start's to the restore point's, and timeline histories. */
  readonly walFiles: readonly string[];
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly files: readonly BackupFile[];
}

/** What checking a backup found; `ok` when `problems` is empty. */
export interface BackupVerification {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly manifest: BackupManifest | null;
  readonly filesChecked: number;
}

/** SHA-256 of a file, streamed. */
export async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every file under `root/sub`, with its size and SHA-256, paths relative to `root`. */
export async function describeFiles(root: string, sub: string): Promise<BackupFile[]> {
  const files: BackupFile[] = [];
  const entries = await fs.readdir(path.join(root, sub), { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    const stat = await fs.stat(full);
    files.push({
      path: path.relative(root, full).split(path.sep).join('/'),
      bytes: stat.size,
      sha256: await sha256Of(full),
    });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/**
 * Checks a backup directory against its manifest: the manifest reads and has its fields, every
 * file it lists is there with its size and SHA-256, no other file is there, every WAL file it
 * needs is listed. Never throws for what it finds: a problem is a line of `problems`.
 */
export async function verifyBackup(directory: string): Promise<BackupVerification> {
  const manifest = readManifest(directory);
  if (typeof manifest === 'string')
    return { ok: false, problems: [manifest], manifest: null, filesChecked: 0 };
  const problems: string[] = [];
  const found = new Map(
    [
      ...(await describeFiles(directory, BACKUP_DATA_DIR).catch(() => [])),
      ...(await describeFiles(directory, BACKUP_WAL_DIR).catch(() => [])),
    ].map((file) => [file.path, file]),
  );
  for (const file of manifest.files) {
    const actual = found.get(file.path);
    found.delete(file.path);
    if (!actual) problems.push(`${file.path} is missing`);
    else if (actual.bytes !== file.bytes)
      problems.push(`${file.path} has ${actual.bytes} bytes, the manifest says ${file.bytes}`);
    else if (actual.sha256 !== file.sha256)
      problems.push(`${file.path} does not match its SHA-256 (changed or corrupt)`);
  }
  for (const extra of found.keys()) problems.push(`${extra} is not in the manifest`);
  const listed = new Set(manifest.files.map((file) => file.path));
  for (const wal of manifest.walFiles) {
    if (!listed.has(`${BACKUP_WAL_DIR}/${wal}`))
      problems.push(`WAL file ${wal} is needed but not listed`);
  }
  if (!listed.has(`${BACKUP_DATA_DIR}/backup_label`)) problems.push('backup_label is not listed');
  return { ok: problems.length === 0, problems, manifest, filesChecked: manifest.files.length };
}

/** The manifest, or what is wrong with it. */
function readManifest(directory: string): BackupManifest | string {
  const file = path.join(directory, MANIFEST_FILE);
  if (!existsSync(file)) return `${MANIFEST_FILE} is missing`;
  let value: Partial<BackupManifest>;
  try {
    value = JSON.parse(readFileSync(file, 'utf8')) as Partial<BackupManifest>;
  } catch (error) {
    return `${MANIFEST_FILE} is not valid JSON: ${error instanceof Error ? error.message : error}`;
  }
  const fields = ['server', 'startLsn', 'stopLsn', 'systemIdentifier'] as const;
  const missing = fields.filter((field) => typeof value[field] !== 'string');
  if (
    value.format !== 1 ||
    missing.length > 0 ||
    !Array.isArray(value.files) ||
    !Array.isArray(value.walFiles) ||
    !Array.isArray(value.tables) ||
    typeof value.restorePoint?.name !== 'string'
  )
    return `${MANIFEST_FILE} is not a format 1 manifest (${missing.join(', ') || 'fields missing'})`;
  return value as BackupManifest;
}
