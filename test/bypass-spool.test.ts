import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { BypassSpool, type SpoolEntry } from '../src/data/bypass/bypass-spool.ts';
import { crc32c } from '../src/data/bypass/crc32.ts';
import { FRAME_HEADER_BYTES, scanFrames } from '../src/data/bypass/spool-frame.ts';
import type { ErrorCode } from '../src/errors/error-catalogue.ts';
import { isMainstayError } from '../src/errors/mainstay-error.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'mainstay-bypass-'));
let dirCount = 0;

/** A fresh directory per test, so spools never share a file. */
function freshDir(): string {
  dirCount++;
  return path.join(root, `spool-${dirCount}`);
}

const open = (dir: string, extra: Partial<Parameters<typeof BypassSpool.open>[0]> = {}) =>
  BypassSpool.open({ dir, name: 'auth', ...extra });

function entry(
  id: string,
  shardId = 1,
  payload: unknown = { amountMinor: '1250', currency: 'EUR' },
) {
  return { id, shardId, kind: 'authorisation', payload };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isMainstayError(error, code), `expected ${code}, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

const ids = (entries: readonly SpoolEntry[]) => entries.map((e) => e.id);

describe('bypass spool', () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  test('crc32c matches the Castagnoli check value and continues across ranges', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    const a = Buffer.from('1234');
    const b = Buffer.from('56789');
    assert.equal(crc32c(b, crc32c(a)), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
  });

  test('pending entries survive a reopen in order; replay applies them in order exactly once', async () => {
    const dir = freshDir();
    const spool = await open(dir);
    const appended: SpoolEntry[] = [];
    for (const id of ['a1', 'a2', 'a3']) {
      const result = await spool.append(entry(id));
      assert.equal(result.duplicate, false);
      assert.ok(result.entry);
      appended.push(result.entry);
    }
    assert.equal(spool.pendingCount, 3);
    await spool.close();

    const reopened = await open(dir);
    assert.equal(reopened.recoveredTornBytes, 0);
    assert.deepEqual(reopened.pending(), appended);
    const applied: string[] = [];
    const result = await reopened.replay(1, async (e) => {
      applied.push(e.id);
    });
    assert.deepEqual(result, { applied: 3, remaining: 0 });
    assert.deepEqual(applied, ['a1', 'a2', 'a3']);
    assert.equal(reopened.pendingCount, 0);
    await reopened.close();

    const third = await open(dir);
    assert.equal(third.pendingCount, 0);
    const again: string[] = [];
    assert.deepEqual(await third.replay(1, async (e) => void again.push(e.id)), {
      applied: 0,
      remaining: 0,
    });
    assert.deepEqual(again, []);
    await third.close();
  });

  test('a duplicate id writes nothing and returns the stored entry', async () => {
    const dir = freshDir();
    const spool = await open(dir);
    const first = await spool.append(entry('dup', 1, { n: 1 }));
    const size = spool.sizeBytes;
    const second = await spool.append(entry('dup', 1, { n: 2 }));
    assert.equal(second.duplicate, true);
    assert.equal(second.acknowledged, false);
    assert.deepEqual(second.entry, first.entry);
    assert.equal(spool.sizeBytes, size);
    assert.equal(statSync(spool.file).size, size);

    // Concurrent appends of one id: one frame.
    const both = await Promise.all([spool.append(entry('race')), spool.append(entry('race'))]);
    assert.deepEqual(
      both.map((r) => r.duplicate),
      [false, true],
    );
    assert.equal(spool.pendingCount, 2);

    // An id already replayed is still recognised, and still writes nothing.
    await spool.replay(1, async () => {});
    const sizeAfterReplay = spool.sizeBytes;
    const late = await spool.append(entry('dup'));
    assert.deepEqual(late, { duplicate: true, acknowledged: true, entry: undefined });
    assert.equal(spool.sizeBytes, sizeAfterReplay);
    assert.equal(spool.pendingCount, 0);
    await spool.close();

    const reopened = await open(dir);
    assert.equal((await reopened.append(entry('dup'))).duplicate, true);
    await reopened.close();
  });

  test('replay stops at the first failure, keeps order and resumes; other shards are untouched', async () => {
    const dir = freshDir();
    const spool = await open(dir);
    for (const id of ['s1-a', 's1-b', 's1-c', 's1-d']) await spool.append(entry(id, 1));
    for (const id of ['s2-a', 's2-b']) await spool.append(entry(id, 2));

    const seen: string[] = [];
    const outage = new Error('shard 1 went away again');
    const first = await spool.replay(1, async (e) => {
      if (e.id === 's1-c') throw outage;
      seen.push(e.id);
    });
    assert.deepEqual(first, { applied: 2, remaining: 2 });
    assert.deepEqual(spool.lastReplayError, { shardId: 1, entryId: 's1-c', error: outage });
    assert.deepEqual(ids(spool.pending(1)), ['s1-c', 's1-d']);
    assert.deepEqual(ids(spool.pending(2)), ['s2-a', 's2-b']);
    await spool.close();

    const reopened = await open(dir);
    assert.deepEqual(ids(reopened.pending()), ['s1-c', 's1-d', 's2-a', 's2-b']);
    const second = await reopened.replay(1, async (e) => void seen.push(e.id));
    assert.deepEqual(second, { applied: 2, remaining: 0 });
    assert.deepEqual(seen, ['s1-a', 's1-b', 's1-c', 's1-d']);
    assert.equal(reopened.lastReplayError, undefined);
    assert.deepEqual(ids(reopened.pending()), ['s2-a', 's2-b']);
    await reopened.close();
  });

  test('concurrent replays of one shard run one after the other, never applying twice', async () => {
    const spool = await open(freshDir());
    for (let i = 0; i < 20; i++) await spool.append(entry(`c${i}`, 3));
    const applied: string[] = [];
    let running = 0;
    const apply = async (e: SpoolEntry) => {
      running++;
      assert.equal(running, 1, 'apply ran concurrently for one shard');
      await new Promise((resolve) => setImmediate(resolve));
      applied.push(e.id);
      running--;
    };
    const [a, b] = await Promise.all([spool.replay(3, apply), spool.replay(3, apply)]);
    assert.deepEqual(
      [a, b],
      [
        { applied: 20, remaining: 0 },
        { applied: 0, remaining: 0 },
      ],
    );
    assert.deepEqual(
      applied,
      Array.from({ length: 20 }, (_, i) => `c${i}`),
    );
    await spool.close();
  });

  test('a torn tail (a frame cut in half) is cut away and appends go on', async () => {
    const dir = freshDir();
    const spool = await open(dir);
    for (const id of ['t1', 't2', 't3']) await spool.append(entry(id));
    const file = spool.file;
    await spool.close();

    const frames = scanFrames(readFileSync(file), file).frames;
    const last = frames[2];
    assert.ok(last);
    const cut = Math.floor(last.bytes / 2);
    truncateSync(file, last.offset + cut);

    const reopened = await open(dir);
    assert.equal(reopened.recoveredTornBytes, cut);
    assert.deepEqual(ids(reopened.pending()), ['t1', 't2']);
    assert.equal(statSync(file).size, last.offset);
    await reopened.append(entry('t4'));
    await reopened.close();

    const third = await open(dir);
    assert.equal(third.recoveredTornBytes, 0);
    assert.deepEqual(ids(third.pending()), ['t1', 't2', 't4']);
    await third.close();
  });

  test('garbage after the last frame is a torn tail too', async () => {
    const dir = freshDir();
    const spool = await open(dir);
    for (const id of ['g1', 'g2', 'g3']) await spool.append(entry(id));
    await spool.close();
    appendFileSync(spool.file, Buffer.from('\xb1\x01garbage written by a dying process', 'latin1'));

    const reopened = await open(dir);
    assert.ok(reopened.recoveredTornBytes > 0);
    assert.deepEqual(ids(reopened.pending()), ['g1', 'g2', 'g3']);
    await reopened.append(entry('g4'));
    assert.deepEqual(ids(reopened.pending()), ['g1', 'g2', 'g3', 'g4']);
    await reopened.close();
  });

  for (const [label, frameIndex] of [
    ['the first', 0],
    ['a middle', 1],
  ] as const) {
    test(`a damaged frame in ${label} position is corruption: open throws with the offset`, async () => {
      const dir = freshDir();
      const spool = await open(dir);
      for (const id of ['m1', 'm2', 'm3']) await spool.append(entry(id));
      await spool.close();
      const bytes = readFileSync(spool.file);
      const frame = scanFrames(bytes, spool.file).frames[frameIndex];
      assert.ok(frame);
      const at = frame.offset + FRAME_HEADER_BYTES + 5;
      bytes[at] = (bytes[at] as number) ^ 0x20;
      writeFileSync(spool.file, bytes);

      const error = await rejectsWith(open(dir), 'bypass_spool_corrupt');
      assert.match(error.message, new RegExp(`byte offset ${frame.offset}\\b`));
      assert.ok(error.message.includes(spool.file));
      assert.deepEqual(readFileSync(spool.file), bytes, 'open must not touch a corrupt spool');
      // The failed open released the file: a repaired spool opens in this process.
      writeFileSync(spool.file, bytes.subarray(0, frame.offset));
      const repaired = await open(dir);
      assert.equal(repaired.pendingCount, frameIndex);
      await repaired.close();
    });
  }

  test('a damaged length field is corruption, not a torn tail that would drop later frames', async () => {
    const dir = freshDir();
    const spool = await open(dir);
    for (const id of ['l1', 'l2', 'l3']) await spool.append(entry(id));
    await spool.close();
    const bytes = readFileSync(spool.file);
    const second = scanFrames(bytes, spool.file).frames[1];
    assert.ok(second);
    bytes.writeUInt32LE(bytes.length, second.offset + 2); // now claims to run past the end
    writeFileSync(spool.file, bytes);
    const error = await rejectsWith(open(dir), 'bypass_spool_corrupt');
    assert.match(error.message, new RegExp(`byte offset ${second.offset}\\b`));
  });

  test('bad entries are rejected with invalid_request and write nothing', async () => {
    const spool = await open(freshDir(), { recordBytesMax: 1024 });
    const bad: unknown[] = [
      entry(''),
      entry('x'.repeat(256)),
      entry('ok', -1),
      entry('ok', 1.5),
      entry('ok', Number.MAX_SAFE_INTEGER + 1),
      entry('ok', Number.NaN),
      { ...entry('ok'), shardId: '1' },
      { ...entry('ok'), kind: '' },
      { ...entry('ok'), payload: undefined },
      entry('ok', 1, { amountMinor: 1250n }),
      entry('ok', 1, { text: 'y'.repeat(1024) }),
      null,
    ];
    for (const input of bad) {
      await rejectsWith(spool.append(input as never), 'invalid_request');
    }
    assert.equal(spool.sizeBytes, 0);
    assert.equal(statSync(spool.file).size, 0);
    assert.equal(spool.pendingCount, 0);
    const longest = await spool.append(entry('z'.repeat(255), 0));
    assert.equal(longest.duplicate, false);
    await rejectsWith(
      spool.replay(-1, async () => {}),
      'invalid_request',
    );
    await spool.close();
  });

  test('a spool at spoolBytesMax rejects appends with bypass_spool_full, still replays and frees itself', async () => {
    const dir = freshDir();
    const spool = await open(dir, { spoolBytesMax: 2048 });
    let accepted = 0;
    for (;;) {
      try {
        await spool.append(entry(`f${accepted}`, 1, { filler: 'f'.repeat(60) }));
        accepted++;
      } catch (error) {
        assert.ok(isMainstayError(error, 'bypass_spool_full'), String(error));
        break;
      }
    }
    assert.ok(accepted > 3, `only ${accepted} entries fit`);
    const size = spool.sizeBytes;
    await rejectsWith(spool.append(entry('one-more')), 'bypass_spool_full');
    assert.equal(statSync(spool.file).size, size);

    // Room for every ack was reserved: replay completes without ever passing the bound.
    assert.deepEqual(await spool.replay(1, async () => {}), { applied: accepted, remaining: 0 });
    assert.ok(statSync(spool.file).size <= 2048);
    // Nothing pending and the file past half its bound: replay compacted it.
    assert.equal(spool.sizeBytes, 0);
    await spool.append(entry('after-compaction'));
    await spool.close();
    const reopened = await open(dir);
    assert.deepEqual(ids(reopened.pending()), ['after-compaction']);
    await reopened.close();
  });

  test('the append queue is bounded', async () => {
    const spool = await open(freshDir(), { appendQueueMax: 10 });
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => spool.append(entry(`q${i}`))),
    );
    const full = results.filter(
      (r) => r.status === 'rejected' && isMainstayError(r.reason, 'bypass_spool_full'),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    assert.ok(full.length > 0, 'nothing was rejected');
    assert.equal(ok.length + full.length, 50);
    assert.equal(spool.pendingCount, ok.length);
    await spool.close();
  });

  test('compact() keeps only pending entries, in order, across a reopen', async () => {
    const dir = freshDir();
    const spool = await open(dir);
    for (let i = 0; i < 10; i++) await spool.append(entry(`k${i}`, i % 2));
    await spool.replay(0, async () => {});
    const before = spool.sizeBytes;
    await spool.compact();
    assert.ok(spool.sizeBytes < before);
    assert.equal(statSync(spool.file).size, spool.sizeBytes);
    await spool.append(entry('k10', 1));
    await spool.close();
    const reopened = await open(dir);
    assert.deepEqual(ids(reopened.pending()), ['k1', 'k3', 'k5', 'k7', 'k9', 'k10']);
    await reopened.close();
  });

  test('group commit: 500 concurrent appends share far fewer fsyncs', async () => {
    const dir = freshDir();
    const spool = await open(dir);
    const appends = 500;
    const results = await Promise.all(
      Array.from({ length: appends }, (_, i) => spool.append(entry(`g${i}`, i % 4))),
    );
    assert.ok(results.every((r) => !r.duplicate));
    assert.ok(spool.flushCount < appends / 5, `${spool.flushCount} fsyncs for ${appends} appends`);
    assert.deepEqual(
      ids(spool.pending()),
      Array.from({ length: appends }, (_, i) => `g${i}`),
    );
    await spool.close();
    const reopened = await open(dir);
    assert.equal(reopened.pendingCount, appends);
    await reopened.close();
  });

  test('a spool file is opened once per process', async () => {
    const dir = freshDir();
    const spool = await open(dir);
    await assert.rejects(open(dir), /already open/);
    await spool.close();
    await assert.rejects(spool.append(entry('late')), /closed/);
    await (await open(dir)).close();
  });

  test('a process killed mid-append loses no acknowledged entry', async () => {
    const dir = freshDir();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/support/spool-crash-child.ts', dir],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => {
      child.on('exit', (_code, signal) => resolve(signal));
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('\n')) resolve();
      });
      child.on('exit', () => reject(new Error(`the child exited early: ${stderr}`)));
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');

    const printed = stdout.split('\n').slice(0, -1); // a last line without '\n' is incomplete
    assert.ok(printed.length > 10, `the child acknowledged only ${printed.length} appends`);
    const spool = await BypassSpool.open({ dir, name: 'crash' });
    const pending = new Set(ids(spool.pending()));
    const lost = printed.filter((id) => !pending.has(id));
    assert.deepEqual(lost, [], 'acknowledged appends are missing after the crash');

    const onDisk = scanFrames(readFileSync(spool.file), spool.file).frames.filter(
      (f) => f.type === 'entry',
    );
    const diskIds = onDisk.map((f) => (JSON.parse(f.payload.toString()) as SpoolEntry).id);
    assert.equal(new Set(diskIds).size, diskIds.length, 'an id was written twice');
    assert.equal(diskIds.length, spool.pendingCount);
    await spool.close();
  });
});
