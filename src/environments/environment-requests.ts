import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MainstayError } from '../errors/mainstay-error.ts';
import { isAlive } from '../fleet/postgres-server.ts';
import { environmentsDir } from './environment-record.ts';
import type { Environment } from './environments.ts';

/** Where create requests are remembered by idempotency key (hidden: never an environment). */
const REQUESTS_DIR = '.requests';
/** Keys are kept at least 24 hours (API style); older records are pruned on the next create. */
export const REQUEST_RETENTION_MS = 48 * 60 * 60 * 1000;

/** A remembered create request: what it asked, and its answer once it had one. */
interface RequestRecord {
  readonly fingerprint: string;
  readonly pid: number;
  readonly at: string;
  readonly answer: Environment | null;
}

/** What {@link createOnce} answers: the environment, and whether it is a stored answer. */
export interface CreateAnswer {
  readonly environment: Environment;
  readonly replayed: boolean;
}

/**
 * Runs `create` once per idempotency key: a retry with the same key and request gets the first
 * answer (`replayed`), the same key with another request `idempotency_key_reused`, and while
 * the first is still running `state_conflict`. A failed create leaves no record, so a retry
 * runs it again (nothing was made: a failed creation removes what it started).
 */
export async function createOnce(
  parentHome: string,
  idempotencyKey: string,
  request: { readonly name: string; readonly demo: boolean },
  create: () => Promise<Environment>,
): Promise<CreateAnswer> {
  const dir = path.join(environmentsDir(parentHome), REQUESTS_DIR);
  mkdirSync(dir, { recursive: true });
  pruneRequests(dir);
  const file = path.join(dir, `${createHash('sha256').update(idempotencyKey).digest('hex')}.json`);
  const fingerprint = JSON.stringify({ name: request.name, demo: request.demo });
  const known = readRequest(file);
  if (known && known.answer === null && !isAlive(known.pid)) rmSync(file, { force: true });
  else if (known) return replay(known, fingerprint);
  const mine: RequestRecord = {
    fingerprint,
    pid: process.pid,
    at: new Date().toISOString(),
    answer: null,
  };
  try {
    writeFileSync(file, JSON.stringify(mine), { flag: 'wx' });
  } catch {
    const other = readRequest(file);
    if (other) return replay(other, fingerprint);
    throw new MainstayError('state_conflict', 'a request with this Idempotency-Key is running');
  }
  try {
    const environment = await create();
    writeFileSync(file, JSON.stringify({ ...mine, answer: environment }));
    return { environment, replayed: false };
  } catch (error) {
    rmSync(file, { force: true });
    throw error;
  }
}

function replay(known: RequestRecord, fingerprint: string): CreateAnswer {
  if (known.fingerprint !== fingerprint)
    throw new MainstayError(
      'idempotency_key_reused',
      'this Idempotency-Key was used for another environment request',
    );
  if (known.answer === null)
    throw new MainstayError(
      'state_conflict',
      'the environment request with this Idempotency-Key is still running; retry later with the same key',
    );
  return { environment: known.answer, replayed: true };
}

function readRequest(file: string): RequestRecord | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RequestRecord;
  } catch {
    return null;
  }
}

function pruneRequests(dir: string): void {
  const cutoff = Date.now() - REQUEST_RETENTION_MS;
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (statSync(file).mtimeMs < cutoff) rmSync(file, { force: true });
  }
}
