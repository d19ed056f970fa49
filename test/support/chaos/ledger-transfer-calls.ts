/**
 * The ledger calls of a fault run: the setup (a striped funding account, guarded wallets on
 * every shard, each funded), a call of transfers retried with the same ids until a definite
 * answer, and calls of bad input that must be refused whole.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type ApiProcess, type HttpAnswer, isDefinite, send } from './chaos-http.ts';
import type { ClientLedger } from './client-ledger.ts';
import type { TransferRecord, TransferTrail } from './ledger-transfer-trails.ts';
import type { SeededRandom } from './seeded-random.ts';

/** The accounts of one shard the load moves money among. */
export interface LedgerShard {
  readonly shardId: number;
  /** The funding account's stripes on this shard (unguarded: they may run negative). */
  readonly stripes: readonly string[];
  /** Guarded customer wallets (debits must not exceed credits), homed on this shard. */
  readonly wallets: readonly string[];
}

export interface LedgerSetup {
  readonly fundingCode: string;
  readonly shards: readonly LedgerShard[];
}

/** One request as it goes on the wire. */
export interface SentRequest {
  readonly id: string;
  readonly kind: 'transfer' | 'pending' | 'post' | 'void';
  readonly debitAccountId?: string;
  readonly creditAccountId?: string;
  readonly amount?: number;
  readonly currency?: string;
  readonly pendingId?: string;
  readonly timeoutSeconds?: number;
  readonly reference?: string;
  readonly linked?: boolean;
}

/** What a call needs: where to send, how often to try, and where to write what it was told. */
export interface CallContext {
  readonly record: TransferRecord;
  readonly ledger: ClientLedger;
  readonly processes: readonly ApiProcess[];
  readonly attemptCountMax: number;
  readonly attemptTimeoutMs: number;
  /** The process of the next attempt. */
  pick(): ApiProcess;
}

const BACKOFF_MS_MAX = 1_000;
const SETUP_ATTEMPT_COUNT_MAX = 20;
const SETUP_PAUSE_MS = 250;

/**
 * Sends `requests` (all of `shard`) until a definite answer, at most `attemptCountMax` times,
 * each attempt with the same body and so the same ids; records every 2xx outcome per id.
 */
export async function sendTransfers(
  calls: CallContext,
  shard: LedgerShard,
  requests: readonly SentRequest[],
): Promise<HttpAnswer> {
  const shardKey = shard.wallets[0] ?? '';
  const trails = requests.map((request) =>
    calls.record.trail({
      id: request.id,
      kind: request.kind,
      shardKey,
      amount: request.amount ?? null,
    }),
  );
  return retrying(calls, (target) => {
    const answer = send(target, 'POST', '/v1/ledger/transfers', {
      body: { shardKey, requests },
      timeoutMs: calls.attemptTimeoutMs,
    });
    return answer.then((sent) => {
      if (sent.status === 200) noteOutcomes(trails, sent, target.name);
      return sent;
    });
  });
}

function noteOutcomes(trails: readonly TransferTrail[], answer: HttpAnswer, process: string) {
  const outcomes = (answer.body?.data ?? []) as {
    status: string;
    amount: number;
    replayed: boolean;
  }[];
  trails.forEach((trail, n) => {
    const outcome = outcomes[n];
    trail.answers.push({
      status: outcome ? outcome.status : `no outcome ${n} in the answer`,
      amount: outcome ? outcome.amount : -1,
      replayed: outcome?.replayed ?? false,
      process,
    });
  });
}

/** Attempts until a definite answer (2xx, 4xx), with a growing pause between. */
async function retrying(
  calls: CallContext,
  attempt: (target: ApiProcess) => Promise<HttpAnswer>,
): Promise<HttpAnswer> {
  const record = calls.ledger.begin('transfer');
  let answer: HttpAnswer = { status: 0, body: null, error: 'not tried', servedBy: null };
  for (let n = 0; n < calls.attemptCountMax; n += 1) {
    if (n > 0) await sleep(Math.min(BACKOFF_MS_MAX, 100 * 2 ** (n - 1)));
    answer = await attempt(calls.pick());
    record.attempts = n + 1;
    record.endedAt = Date.now();
    if (isDefinite(answer)) {
      record.answered = true;
      return answer;
    }
    const code = answer.error ?? String(answer.status);
    record.failures.set(code, (record.failures.get(code) ?? 0) + 1);
  }
  return answer;
}

/**
 * A call holding a good request and a bad one (U+0000 in an id or a reference, or bytes that
 * are not UTF-8): it must be refused whole, so neither request's id may reach the books.
 */
export async function sendBadInput(
  calls: CallContext,
  shard: LedgerShard,
  prefix: string,
  random: SeededRandom,
): Promise<void> {
  const shardKey = shard.wallets[0] ?? '';
  const move = (id: string, extra: Partial<SentRequest> = {}): SentRequest => ({
    id,
    kind: 'transfer',
    debitAccountId: random.pick(shard.stripes),
    creditAccountId: random.pick(shard.wallets),
    amount: random.int(1, 100),
    currency: 'CNY',
    ...extra,
  });
  const good = move(`${prefix}-ok`);
  const variant = random.int(0, 2);
  const what = ['U+0000 in an id', 'U+0000 in a reference', 'bytes that are not UTF-8'][variant];
  const bad =
    variant === 0
      ? move(`${prefix}-nul\u0000id`)
      : move(`${prefix}-bad`, { reference: variant === 1 ? 'ref\u0000' : 'NOT_UTF8' });
  const text = JSON.stringify({ shardKey, requests: [good, bad] });
  const bytes = variant === 2 ? notUtf8(text, 'NOT_UTF8') : undefined;
  const refused = {
    what: what ?? 'bad input',
    ids: variant === 0 ? [good.id] : [good.id, bad.id],
    shardKey,
    answers: [] as { status: number; code: string | null }[],
  };
  calls.record.refusedCalls.push(refused);
  await retrying(calls, async (target) => {
    const answer = await send(target, 'POST', '/v1/ledger/transfers', {
      ...(bytes === undefined ? { body: JSON.parse(text) } : { rawBody: bytes }),
      timeoutMs: calls.attemptTimeoutMs,
    });
    if (isDefinite(answer)) refused.answers.push({ status: answer.status, code: answer.error });
    return answer;
  });
}

/** `text` as UTF-8 with `marker` replaced by 0xC3 0x28: a lead byte no byte can continue. */
function notUtf8(text: string, marker: string): Uint8Array {
  const bytes = Buffer.from(text, 'utf8');
  const at = bytes.indexOf(marker);
  if (at < 0) throw new Error('the bad-input body lost its marker');
  return Buffer.concat([
    bytes.subarray(0, at),
    Buffer.from([0xc3, 0x28]),
    bytes.subarray(at + marker.length),
  ]);
}

/**
 * Opens the ledger accounts of a run: a striped funding account (`suspense`, on every shard),
 * `walletsPerShard` guarded wallets homed on each shard (their owner is a stripe of it), each
 * funded with `fundingAmount` by a transfer recorded like any other.
 */
export async function openLedgerAccounts(
  calls: CallContext,
  runId: string,
  walletsPerShard: number,
  fundingAmount: number,
): Promise<LedgerSetup> {
  const fundingCode = `${runId}-funding`;
  const institution = await setupWrite(calls, '/v1/ledger/institution-accounts', null, {
    code: fundingCode,
    kind: 'suspense',
    currency: 'CNY',
  });
  const stripes = institution.stripes as { shardId: number; id: string }[];
  const shardIds = [...new Set(stripes.map((stripe) => stripe.shardId))].sort((a, b) => a - b);
  const shards: LedgerShard[] = [];
  for (const shardId of shardIds) {
    const own = stripes.filter((stripe) => stripe.shardId === shardId).map((s) => s.id);
    const wallets: string[] = [];
    for (let n = 0; n < walletsPerShard; n += 1) {
      const wallet = await setupWrite(calls, '/v1/ledger/accounts', `${runId}-lw-${shardId}-${n}`, {
        currency: 'CNY',
        kind: 'wallet',
        ownerId: own[0],
      });
      wallets.push(String(wallet.id));
    }
    calls.record.guarded.push(...wallets);
    shards.push({ shardId, stripes: own, wallets });
  }
  for (const shard of shards) {
    const funding = shard.wallets.map((wallet, n) => ({
      id: `${runId}-fund-${wallet}`,
      kind: 'transfer' as const,
      debitAccountId: shard.stripes[n % shard.stripes.length] ?? '',
      creditAccountId: wallet,
      amount: fundingAmount,
      currency: 'CNY',
    }));
    const answer = await sendTransfers(calls, shard, funding);
    const statuses = ((answer.body?.data ?? []) as { status: string }[]).map((o) => o.status);
    if (answer.status !== 200 || statuses.some((status) => status !== 'posted'))
      throw new Error(`funding the wallets failed: ${answer.status} ${answer.error} ${statuses}`);
  }
  return { fundingCode, shards };
}

async function setupWrite(
  calls: CallContext,
  path: string,
  key: string | null,
  body: unknown,
): Promise<Record<string, unknown>> {
  let last = '';
  for (let attempt = 0; attempt < SETUP_ATTEMPT_COUNT_MAX; attempt += 1) {
    const target = calls.processes[attempt % calls.processes.length] ?? calls.pick();
    const answer = await send(target, 'POST', path, {
      body,
      headers: key === null ? {} : { 'idempotency-key': key },
      timeoutMs: calls.attemptTimeoutMs,
    });
    if (answer.status === 201 || answer.status === 200) return answer.body;
    last = `${answer.status} ${answer.error}`;
    await sleep(SETUP_PAUSE_MS);
  }
  throw new Error(`ledger setup write ${path} failed: ${last}`);
}

/** A call context that takes the processes in turn (the setup: no seeded choice spent). */
export function callsInTurn(
  record: TransferRecord,
  ledger: ClientLedger,
  processes: readonly ApiProcess[],
  attempts: { readonly countMax: number; readonly timeoutMs: number },
): CallContext {
  let turn = 0;
  return {
    record,
    ledger,
    processes,
    attemptCountMax: attempts.countMax,
    attemptTimeoutMs: attempts.timeoutMs,
    pick: () => {
      turn += 1;
      const target = processes[turn % processes.length] ?? processes[0];
      if (!target) throw new Error('no API process');
      return target;
    },
  };
}
