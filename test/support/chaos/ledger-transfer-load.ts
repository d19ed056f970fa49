/**
 * The ledger's part of a fault run's load, over HTTP on every API process: transfers among
 * guarded wallets (a few per shard) funded from a striped institution account, linked chains,
 * pending transfers posted in full or in part or voided, each request with its client id. A
 * call whose answer is lost (a timeout, a reset, a 5xx such as `write_outcome_unknown`) is sent
 * again with the SAME ids to either process; some answered calls are sent again on purpose;
 * some calls carry bytes that are not UTF-8 or a U+0000 and must be refused whole.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type ApiProcess, type HttpAnswer, isDefinite } from './chaos-http.ts';
import type { ClientLedger } from './client-ledger.ts';
import {
  type LedgerSetup,
  type LedgerShard,
  type SentRequest,
  sendBadInput,
  sendTransfers,
} from './ledger-transfer-calls.ts';
import type { TransferRecord } from './ledger-transfer-trails.ts';
import type { SeededRandom } from './seeded-random.ts';

export { type LedgerSetup, openLedgerAccounts } from './ledger-transfer-calls.ts';

/** What the ledger's clients run with. */
export interface LedgerLoadPlan {
  readonly processes: readonly ApiProcess[];
  readonly setup: LedgerSetup;
  readonly runId: string;
  readonly durationMs: number;
  readonly clientCount: number;
  readonly opCountMax: number;
  readonly attemptCountMax: number;
  readonly attemptTimeoutMs: number;
  readonly thinkMs: number;
}

const AMOUNT_MIN = 100;
const AMOUNT_MAX = 4_000;
const TOP_UP_MIN = 1_000;
const TOP_UP_MAX = 5_000;
/** Most pending transfers outlive the run; a few time out and the sweep expires them. */
const PENDING_TIMEOUT_SECONDS = 600;
const SHORT_TIMEOUT_SECONDS = 3;
const CHAIN_LENGTH_MAX = 3;
/** Share of answered calls sent again at once, with the same ids, to any process. */
const REPEAT_SHARE = 0.1;

interface LedgerContext {
  readonly plan: LedgerLoadPlan;
  readonly ledger: ClientLedger;
  readonly record: TransferRecord;
  readonly deadline: number;
}

/** Runs the ledger's clients until their time or their counts run out. */
export async function runLedgerLoad(
  plan: LedgerLoadPlan,
  ledger: ClientLedger,
  record: TransferRecord,
  random: SeededRandom,
): Promise<void> {
  const context = { plan, ledger, record, deadline: Date.now() + plan.durationMs };
  const clients: Promise<void>[] = [];
  for (let n = 0; n < plan.clientCount; n += 1) {
    clients.push(ledgerClient(context, random.fork(), n));
  }
  await Promise.all(clients);
}

async function ledgerClient(context: LedgerContext, random: SeededRandom, client: number) {
  const { plan } = context;
  for (let n = 0; n < plan.opCountMax && Date.now() < context.deadline; n += 1) {
    const shard = random.pick(plan.setup.shards);
    const prefix = `${plan.runId}-l${client}-${n}`;
    const roll = random.next();
    if (roll < 0.06) {
      await sendBadInput(callContext(context, random), shard, prefix, random);
    } else {
      const requests = chooseRequests(context, random, shard, prefix, roll);
      if (requests.length > 0) await call(context, random, shard, requests);
    }
    await sleep(plan.thinkMs);
  }
}

/** The requests of one call, by the roll: a transfer, a chain, a pending, a settle, a top-up. */
function chooseRequests(
  context: LedgerContext,
  random: SeededRandom,
  shard: LedgerShard,
  prefix: string,
  roll: number,
): SentRequest[] {
  const move = (n: number, kind: 'transfer' | 'pending', linked: boolean): SentRequest => {
    const [debit, credit] = twoOf(random, shard.wallets);
    return {
      id: `${prefix}-${n}`,
      kind,
      debitAccountId: debit,
      creditAccountId: credit,
      amount: random.int(AMOUNT_MIN, AMOUNT_MAX),
      currency: 'CNY',
      ...(kind === 'pending'
        ? {
            timeoutSeconds: random.chance(0.1) ? SHORT_TIMEOUT_SECONDS : PENDING_TIMEOUT_SECONDS,
          }
        : {}),
      ...(linked ? { linked: true } : {}),
    };
  };
  if (roll < 0.45) return [move(0, 'transfer', false)];
  if (roll < 0.58) {
    const length = random.int(2, CHAIN_LENGTH_MAX);
    return Array.from({ length }, (_, n) => move(n, 'transfer', n < length - 1));
  }
  if (roll < 0.72) return [move(0, 'pending', false)];
  if (roll < 0.88) return settleRequest(context, random, shard, prefix);
  return [
    {
      id: `${prefix}-0`,
      kind: 'transfer',
      debitAccountId: random.pick(shard.stripes),
      creditAccountId: random.pick(shard.wallets),
      amount: random.int(TOP_UP_MIN, TOP_UP_MAX),
      currency: 'CNY',
    },
  ];
}

/** A post (whole or part) or a void of a pending transfer a client was told of, if any. */
function settleRequest(
  context: LedgerContext,
  random: SeededRandom,
  shard: LedgerShard,
  prefix: string,
): SentRequest[] {
  const open = context.record.openPendings;
  const index = open.findIndex((pending) => shard.wallets.includes(pending.shardKey));
  if (index < 0) return [];
  const [pending] = open.splice(index, 1);
  if (!pending) return [];
  const choice = random.next();
  if (choice < 0.35) return [{ id: `${prefix}-0`, kind: 'void', pendingId: pending.id }];
  const part = choice < 0.7 ? { amount: random.int(1, pending.amount) } : {};
  return [{ id: `${prefix}-0`, kind: 'post', pendingId: pending.id, ...part }];
}

function twoOf(random: SeededRandom, items: readonly string[]): [string, string] {
  const first = random.int(0, items.length - 1);
  const second = (first + random.int(1, items.length - 1)) % items.length;
  return [items[first] ?? '', items[second] ?? ''];
}

function callContext(context: LedgerContext, random: SeededRandom) {
  return {
    record: context.record,
    ledger: context.ledger,
    processes: context.plan.processes,
    attemptCountMax: context.plan.attemptCountMax,
    attemptTimeoutMs: context.plan.attemptTimeoutMs,
    pick: () => random.pick(context.plan.processes),
  };
}

/** One call, retried with the same ids until a definite answer; sometimes sent again after. */
async function call(
  context: LedgerContext,
  random: SeededRandom,
  shard: LedgerShard,
  requests: readonly SentRequest[],
): Promise<void> {
  const calls = callContext(context, random);
  const answer = await sendTransfers(calls, shard, requests);
  if (answer.status === 200) notePendings(context.record, shard, requests, answer);
  if (isDefinite(answer) && random.chance(REPEAT_SHARE)) {
    context.record.repeats += 1;
    await sendTransfers(calls, shard, requests);
  }
}

/** Pending transfers told `pending` join the pool a settle picks from. */
function notePendings(
  record: TransferRecord,
  shard: LedgerShard,
  requests: readonly SentRequest[],
  answer: HttpAnswer,
): void {
  const outcomes = (answer.body?.data ?? []) as { status: string }[];
  requests.forEach((request, n) => {
    if (request.kind === 'pending' && outcomes[n]?.status === 'pending') {
      record.openPendings.push({
        id: request.id,
        shardKey: shard.wallets[0] ?? '',
        amount: request.amount ?? 0,
      });
    }
  });
}
