/**
 * The mixed load of a fault run, spread over every API process: authorizations (retried with
 * the same request id after a timeout or a 5xx, to either process, and some asked again later
 * on purpose), captures and reversals of approved holds, and binds each followed at once by a
 * list of the user's cards through the other process, without the consistency token.
 * Every loop is bounded in count and in time and stops by itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { bindBody, testNumber } from '../card-binding-http.ts';
import { type ApiProcess, type HttpAnswer, isDefinite, send } from './chaos-http.ts';
import type { AuthorizationTrail, ClientLedger, Operation } from './client-ledger.ts';
import type { SeededRandom } from './seeded-random.ts';

/** A card the load authorizes on, with its account. */
export interface LoadCard {
  readonly cardId: string;
  readonly accountId: string;
}

export interface LoadPlan {
  readonly processes: readonly ApiProcess[];
  readonly cards: readonly LoadCard[];
  /** Unique per run: request ids, idempotency keys and card numbers start with it. */
  readonly runId: string;
  readonly durationMs: number;
  readonly clients: { readonly authorize: number; readonly hold: number; readonly bind: number };
  /** Operations per client at most, whatever the time left. */
  readonly opCountMax: number;
  readonly attemptCountMax: number;
  readonly attemptTimeoutMs: number;
  /** Pause between a client's operations, so two cores also serve the fleet. */
  readonly thinkMs: number;
}

const AMOUNT_MIN = 500;
const AMOUNT_MAX = 6_000;
/** Share of answered authorizations asked again later, to any process. */
const REASK_SHARE = 0.15;
const REASK_DELAY_MS_MIN = 300;
const REASK_DELAY_MS_MAX = 3_000;
const BACKOFF_MS_MAX = 1_000;
/** A user gets a fresh successor before reaching the bound-card limit (20). */
const BINDS_PER_USER_MAX = 15;

interface Reask {
  readonly trail: AuthorizationTrail;
  readonly body: unknown;
  readonly dueAt: number;
}

/** Runs the whole load until its time or its counts run out. */
export async function runLoad(plan: LoadPlan, ledger: ClientLedger, random: SeededRandom) {
  const deadline = Date.now() + plan.durationMs;
  const reasks: Reask[] = [];
  const context = { plan, ledger, deadline, reasks };
  const clients: Promise<void>[] = [];
  for (let n = 0; n < plan.clients.authorize; n += 1) {
    clients.push(authorizeClient(context, random.fork(), n));
  }
  for (let n = 0; n < plan.clients.hold; n += 1) {
    clients.push(holdClient(context, random.fork(), n));
  }
  for (let n = 0; n < plan.clients.bind; n += 1) {
    clients.push(bindClient(context, random.fork(), n));
  }
  await Promise.all(clients);
}

interface LoadContext {
  readonly plan: LoadPlan;
  readonly ledger: ClientLedger;
  readonly deadline: number;
  readonly reasks: Reask[];
}

/**
 * One logical operation: attempts to random processes until a definite answer, at most
 * `attemptCountMax` of them, with a growing pause between. Records it in the ledger.
 */
async function retrying(
  context: LoadContext,
  op: Operation,
  random: SeededRandom,
  attempt: (target: ApiProcess) => Promise<HttpAnswer>,
): Promise<HttpAnswer> {
  const { plan, ledger } = context;
  const record = ledger.begin(op);
  let answer: HttpAnswer = { status: 0, body: null, error: 'not tried', servedBy: null };
  for (let n = 0; n < plan.attemptCountMax; n += 1) {
    if (n > 0) await sleep(Math.min(BACKOFF_MS_MAX, 100 * 2 ** (n - 1)));
    answer = await attempt(random.pick(plan.processes));
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

async function authorizeClient(context: LoadContext, random: SeededRandom, client: number) {
  const { plan, ledger, reasks } = context;
  for (let n = 0; n < plan.opCountMax && Date.now() < context.deadline; n += 1) {
    const due = reasks.findIndex((reask) => reask.dueAt <= Date.now());
    if (due >= 0 && random.chance(0.5)) {
      const [reask] = reasks.splice(due, 1);
      if (reask) await authorizeOnce(context, random, reask.trail, reask.body);
    } else {
      const card = random.pick(plan.cards);
      const requestId = `${plan.runId}-a${client}-${n}`;
      const amount = random.int(AMOUNT_MIN, AMOUNT_MAX);
      const body = {
        requestId,
        cardId: card.cardId,
        amount,
        currency: 'CNY',
        merchant: { id: `mer_${random.int(1, 40)}`, categoryCode: random.pick(['5311', '5411']) },
      };
      const trail = { requestId, ...card, amount, answers: [] };
      ledger.authorizations.set(requestId, trail);
      const answered = await authorizeOnce(context, random, trail, body);
      if (answered && random.chance(REASK_SHARE)) {
        const dueAt = Date.now() + random.int(REASK_DELAY_MS_MIN, REASK_DELAY_MS_MAX);
        reasks.push({ trail, body, dueAt });
      }
    }
    await sleep(plan.thinkMs);
  }
}

/** Whether an authorization answer is 91, issuer unavailable: no decision was taken. */
function isUndecided(body: unknown): boolean {
  return (
    typeof body === 'object' &&
    body !== null &&
    (body as { status?: unknown }).status === 'issuer_unavailable'
  );
}

/** One authorization request (or a re-ask of one): true when some process answered it 2xx. */
async function authorizeOnce(
  context: LoadContext,
  random: SeededRandom,
  trail: AuthorizationTrail,
  body: unknown,
): Promise<boolean> {
  const { plan, ledger } = context;
  const answer = await retrying(context, 'authorize', random, async (target) => {
    const sent = await send(target, 'POST', '/v1/authorizations', {
      body,
      timeoutMs: plan.attemptTimeoutMs,
    });
    // `issuer_unavailable` (91) decides nothing (nothing recorded; the network retries it), so
    // a client treats it as it treats a 503: not an answer, try again.
    if (sent.status >= 200 && sent.status < 300 && isUndecided(sent.body)) {
      return { ...sent, status: 503 };
    }
    if (sent.status >= 200 && sent.status < 300) ledger.decision(trail, sent.body, target.name);
    return sent;
  });
  return answer.status >= 200 && answer.status < 300;
}

async function holdClient(context: LoadContext, random: SeededRandom, client: number) {
  const { plan, ledger } = context;
  for (let n = 0; n < plan.opCountMax && Date.now() < context.deadline; n += 1) {
    const open = ledger.openHolds();
    if (open.length === 0) {
      await sleep(50);
      continue;
    }
    const id = random.pick(open);
    const acks = ledger.holds.get(id);
    const capture = random.chance(0.5);
    const op = capture ? 'capture' : 'reversal';
    const part = Math.max(1, Math.floor((acks?.held ?? 1) * (0.3 + 0.7 * random.next())));
    const body = capture && random.chance(0.7) ? { amount: part } : {};
    const key = `${plan.runId}-h${client}-${n}`;
    const answer = await retrying(context, op, random, (target) =>
      send(target, 'POST', `/v1/authorizations/${id}/${op}`, {
        body,
        headers: { 'idempotency-key': key },
        timeoutMs: plan.attemptTimeoutMs,
      }),
    );
    if (answer.status === 200) {
      if (answer.body?.id !== id) ledger.holdIdMismatches.push(`${op} ${id} -> ${answer.body?.id}`);
      ledger.noteHold(id, answer.body);
    } else if (answer.status === 404) {
      ledger.holdUnknownIds.push(`${op} ${id}`);
      if (acks) acks.open = false;
    } else if (answer.status === 409 && acks) {
      acks.open = false;
    }
    await sleep(plan.thinkMs);
  }
}

async function bindClient(context: LoadContext, random: SeededRandom, client: number) {
  const { plan, ledger } = context;
  let userId: string | null = null;
  let bound = 0;
  for (let n = 0; n < plan.opCountMax && Date.now() < context.deadline; n += 1) {
    if (userId === null || bound >= BINDS_PER_USER_MAX) {
      userId = await newUser(context, random, `${plan.runId}-u${client}-${n}`);
      bound = 0;
      if (userId === null) continue;
    }
    const number = testNumber('4', 16, cardNumberBase(plan.runId) + client * 100_000 + n);
    const key = `${plan.runId}-b${client}-${n}`;
    const user = userId;
    let writer: ApiProcess | null = null;
    const answer = await retrying(context, 'bind', random, (target) => {
      writer = target;
      return send(target, 'POST', `/v1/users/${user}/cards`, {
        body: bindBody(number),
        headers: { 'idempotency-key': key },
        timeoutMs: plan.attemptTimeoutMs,
      });
    });
    if (answer.status === 201) {
      bound += 1;
      ledger.binds.push({ userId: user, boundCardId: String(answer.body.id) });
      await listAfterBind(context, random, user, String(answer.body.id), writer);
    }
    await sleep(plan.thinkMs);
  }
}

/** Lists through a process other than the writer, at once and without the token. */
async function listAfterBind(
  context: LoadContext,
  random: SeededRandom,
  userId: string,
  cardId: string,
  writer: ApiProcess | null,
) {
  const { plan, ledger } = context;
  const others = plan.processes.filter((candidate) => candidate !== writer);
  const reader = others.length > 0 ? others : plan.processes;
  const answer = await retrying(context, 'list', random, (target) =>
    send(
      reader.includes(target) ? target : random.pick(reader),
      'GET',
      `/v1/users/${userId}/cards`,
      {
        timeoutMs: plan.attemptTimeoutMs,
      },
    ),
  );
  if (answer.status !== 200) return;
  ledger.listCount += 1;
  const listed = (answer.body?.data ?? []) as { id: string }[];
  if (!listed.some((card) => card.id === cardId)) ledger.staleLists.push(`${userId} ${cardId}`);
}

async function newUser(context: LoadContext, random: SeededRandom, key: string) {
  const answer = await retrying(context, 'bind', random, (target) =>
    send(target, 'POST', '/v1/users', {
      body: { fullName: 'Chaos Client', email: 'chaos@example.com' },
      headers: { 'idempotency-key': key },
      timeoutMs: context.plan.attemptTimeoutMs,
    }),
  );
  return answer.status === 201 ? String(answer.body.id) : null;
}

/** A per-run offset for card numbers, so that runs on one fleet never bind the same number. */
function cardNumberBase(runId: string): number {
  let hash = 0;
  for (const char of runId) hash = (hash * 31 + char.charCodeAt(0)) % 10_000;
  return hash * 10_000_000;
}
