/**
 * Child process for the bypass spool crash test: appends entries as fast as it can from several
 * concurrent writers and prints each id on its own line only after its append resolved (that
 * is, after the fsync). The test kills it with SIGKILL mid-stream. Stdout to a pipe is
 * synchronous on Linux, so every printed id left this process before the kill.
 *
 * Usage: node --import tsx test/support/spool-crash-child.ts <dir>
 */
import { BypassSpool } from '../../src/data/bypass/bypass-spool.ts';

const WRITERS = 16;
const dir = process.argv[2];
if (!dir) throw new Error('usage: spool-crash-child.ts <dir>');

const spool = await BypassSpool.open({ dir, name: 'crash' });
const filler = 'x'.repeat(300);

async function writer(w: number): Promise<never> {
  for (let i = 0; ; i++) {
    const id = `w${w}-${i}`;
    await spool.append({ id, shardId: w % 4, kind: 'authorisation', payload: { i, filler } });
    process.stdout.write(`${id}\n`);
  }
}

await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
