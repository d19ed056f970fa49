/**
 * One fault run end to end: a fresh fleet with its API processes, accounts and cards, the mixed
 * load beside a seeded fault schedule, recovery, then the checks and the client-seen RTO.
 * Used by `test/chaos.test.ts` (a short schedule) and `npm run chaos` (longer ones).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { booksEqualApiCheck, exposureCheck, readAccounts } from './account-checks.ts';
import type { ChaosConfig } from './chaos-config.ts';
import { type ApiProcess, send } from './chaos-http.ts';
import { type LoadCard, runLoad } from './chaos-load.ts';
import { type ChaosPlatform, startChaosPlatform } from './chaos-platform.ts';
import { ClientLedger } from './client-ledger.ts';
import { type RtoRow, rtoRows } from './client-rto.ts';
import { homeEqualsCopyCheck } from './copy-check.ts';
import { dcIsWhole, FaultInjector, type InjectedFault } from './fault-injector.ts';
import { type FaultKind, planFaults } from './fault-schedule.ts';
import {
  acknowledgedCount,
  type CheckResult,
  countLost,
  findLostWrites,
  type LostWrites,
  noLostWrites,
  oneAnswerCheck,
  readAuthorizationBooks,
} from './ledger-checks.ts';
import { readLedgerBooks } from './ledger-transfer-books.ts';
import { callsInTurn } from './ledger-transfer-calls.ts';
import { addLostTransfers, ledgerChecks } from './ledger-transfer-checks.ts';
import {
  type LedgerLoadPlan,
  type LedgerSetup,
  openLedgerAccounts,
  runLedgerLoad,
} from './ledger-transfer-load.ts';
import { TransferRecord } from './ledger-transfer-trails.ts';
import { lostWritesCheck } from './lost-writes-check.ts';
import { SeededRandom } from './seeded-random.ts';
import { eventsSince, type FleetEvent, tailReports } from './tail-events.ts';

export interface ChaosOptions {
  readonly seed: number;
  /** Seconds of load (faults are planned to fit). */
  readonly seconds: number;
  readonly config: ChaosConfig;
  /** Faults that always come, in a seeded order. */
  readonly once: readonly FaultKind[];
  readonly dcLoss: boolean;
  readonly accountCount: number;
  readonly creditLimit: number;
  readonly clients: {
    readonly authorize: number;
    readonly hold: number;
    readonly bind: number;
    /** Clients of the ledger: transfers, chains, pending transfers among guarded wallets. */
    readonly ledger: number;
  };
  readonly opCountMax: number;
  /** Ids given out checked with GET at the end, at most (a seeded sample beyond). */
  readonly lookupCountMax: number;
  /** Prints progress lines (the long runs); the test stays quiet. */
  readonly log?: (line: string) => void;
}

export interface ChaosReport {
  readonly options: ChaosOptions;
  readonly processes: readonly string[];
  readonly faults: readonly InjectedFault[];
  readonly checks: readonly CheckResult[];
  readonly rto: readonly RtoRow[];
  readonly tails: readonly string[];
  readonly lost: LostWrites;
  readonly load: Readonly<Record<string, number>>;
  readonly notes: readonly string[];
}

const ATTEMPT_TIMEOUT_MS = 4_000;
const ATTEMPT_COUNT_MAX = 8;
const THINK_MS = 15;
const RECOVERY_MS_MAX = 120_000;
const ADVICES_MS_MAX = 90_000;
const SETUP_ATTEMPT_COUNT_MAX = 20;
/** Guarded wallets per shard the ledger's clients move money among, and what each gets first. */
const LEDGER_WALLETS_PER_SHARD = 4;
/** Against 100-4,000 per transfer: wallets run dry, and the guard refuses. */
const LEDGER_FUNDING = 8_000;
/**
 * A ledger client gives up on an attempt sooner than the cards' clients, so that a hang loses
 * answers to calls still in flight and their retries (same ids) race them.
 */
const LEDGER_ATTEMPT_TIMEOUT_MS = 1_500;
const LEDGER_ATTEMPT_COUNT_MAX = 16;
/** Lines of `mainstay up`'s output kept in the report of a fleet that did not recover. */
const UP_OUTPUT_LINES = 40;
const UP_LINE_CHARS_MAX = 240;

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const random = new SeededRandom(options.seed);
  const runId = `c${options.seed.toString(36)}`;
  const platform = await startChaosPlatform(`chaos-${runId}`, options.config.file);
  try {
    log(
      `fleet up; API processes: ${platform.processes.map((p) => `${p.name} ${p.url}`).join(', ')}`,
    );
    const atStart = await waitWhole(platform, []);
    if (!atStart) throw new Error(`the fresh fleet was not whole within ${RECOVERY_MS_MAX} ms`);
    const cards = await openAccounts(platform.processes, options, runId);
    const homes = await shardHomes(platform);
    const ledger = new ClientLedger();
    const { transfers, ledgerSetup } = await openLedger(platform.processes, ledger, runId);
    const injector = new FaultInjector(platform.access);
    const schedule = planFaults(random.fork(), {
      dataCentres: ['dc1', 'dc2'],
      once: options.once,
      seconds: options.seconds,
      dcLoss: options.dcLoss,
    });
    log(`schedule: ${schedule.map((f) => `${f.kind} ${f.dc}`).join(', ')}`);
    const startedAt = Date.now();
    const upProcess = platform.processes[0];
    if (!upProcess) throw new Error('no API process');
    const durationMs = options.seconds * 1000;
    const plan = {
      processes: platform.processes,
      cards,
      runId,
      durationMs,
      clients: options.clients,
      opCountMax: options.opCountMax,
      attemptCountMax: ATTEMPT_COUNT_MAX,
      attemptTimeoutMs: ATTEMPT_TIMEOUT_MS,
      thinkMs: THINK_MS,
    };
    try {
      await Promise.all([
        runLoad(plan, ledger, random.fork()),
        runLedgerLoad(ledgerPlan(plan, ledgerSetup, options), ledger, transfers, random.fork()),
        injector.run(schedule, startedAt + durationMs),
      ]);
    } finally {
      await injector.release();
    }
    log(`load done: ${ledger.operations.length} operations; recovering`);
    const recovery = await recover(platform, injector.lostDcs);
    const run = { ledger, transfers, injector, cards, homes };
    if (!recovery.whole) {
      const events = await eventsSince(upProcess, startedAt).catch(() => []);
      return keepLogsOfFailure(
        platform,
        unrecovered(platform, options, run, recovery.notes, events),
      );
    }
    log('checking');
    const report = await check(platform, options, run, startedAt, recovery.notes, random);
    log('checked; stopping the fleet');
    return keepLogsOfFailure(platform, report);
  } finally {
    await platform.stop();
  }
}

/** The ledger's accounts of a run (guarded wallets on every shard, funded) and its record. */
async function openLedger(processes: readonly ApiProcess[], ledger: ClientLedger, runId: string) {
  const transfers = new TransferRecord();
  const attempts = { countMax: ATTEMPT_COUNT_MAX, timeoutMs: ATTEMPT_TIMEOUT_MS };
  const calls = callsInTurn(transfers, ledger, processes, attempts);
  const ledgerSetup = await openLedgerAccounts(
    calls,
    runId,
    LEDGER_WALLETS_PER_SHARD,
    LEDGER_FUNDING,
  );
  return { transfers, ledgerSetup };
}

/** The ledger clients' plan: the run's, with their accounts, count and shorter attempts. */
function ledgerPlan(
  plan: Omit<LedgerLoadPlan, 'setup' | 'clientCount'>,
  setup: LedgerSetup,
  options: ChaosOptions,
): LedgerLoadPlan {
  return {
    ...plan,
    setup,
    clientCount: options.clients.ledger,
    attemptTimeoutMs: LEDGER_ATTEMPT_TIMEOUT_MS,
    attemptCountMax: LEDGER_ATTEMPT_COUNT_MAX,
  };
}

/** What a run produced, for the checks. */
interface RunRecord {
  readonly ledger: ClientLedger;
  readonly transfers: TransferRecord;
  readonly injector: FaultInjector;
  readonly cards: readonly LoadCard[];
  /** Each shard database's home DC before the faults. */
  readonly homes: ReadonlyMap<string, string>;
}

async function shardHomes(platform: ChaosPlatform): Promise<Map<string, string>> {
  const topology = await platform.access.topology();
  if (!topology) throw new Error('the fleet did not answer GET /v1/topology');
  return new Map(topology.shards.map((shard) => [shard.database, shard.homeDc]));
}

/** Creates the accounts and cards the load authorizes on (retried: the fleet is fresh). */
async function openAccounts(
  processes: readonly ApiProcess[],
  options: ChaosOptions,
  runId: string,
): Promise<LoadCard[]> {
  const cards: LoadCard[] = [];
  for (let n = 0; n < options.accountCount; n += 1) {
    const account = await setupWrite(processes, '/v1/card-accounts', `${runId}-acct-${n}`, {
      currency: 'CNY',
      creditLimit: options.creditLimit,
    });
    const card = await setupWrite(
      processes,
      `/v1/card-accounts/${account.id}/cards`,
      `${runId}-card-${n}`,
      {},
    );
    cards.push({ cardId: String(card.id), accountId: String(account.id) });
  }
  return cards;
}

async function setupWrite(
  processes: readonly ApiProcess[],
  path: string,
  key: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  let last = '';
  for (let attempt = 0; attempt < SETUP_ATTEMPT_COUNT_MAX; attempt += 1) {
    const target = processes[attempt % processes.length] ?? processes[0];
    if (!target) throw new Error('no API process');
    const answer = await send(target, 'POST', path, {
      body,
      headers: { 'idempotency-key': key },
      timeoutMs: ATTEMPT_TIMEOUT_MS,
    });
    if (answer.status === 201 || answer.status === 200) return answer.body;
    last = `${answer.status} ${answer.error}`;
    await sleep(250);
  }
  throw new Error(`setup write ${path} failed: ${last}`);
}

/** Waits until every DC not lost is whole and no API process has advices left to forward. */
async function recover(
  platform: ChaosPlatform,
  lostDcs: readonly string[],
): Promise<{ whole: boolean; notes: string[] }> {
  const notes: string[] = [];
  const whole = await waitWhole(platform, lostDcs);
  if (!whole) {
    const topology = await platform.access.topology();
    const servers = topology?.servers.map(
      (s) => `${s.id} ${s.role} ${s.state}${s.fencedAtEpoch === null ? '' : ' fenced'}`,
    );
    const shards = topology?.shards.map((s) => `${s.database} ${s.copyState}`);
    notes.push(
      platform.upRunning() ? 'mainstay up still runs' : 'mainstay up has ended',
      topology
        ? `topology at the end: ${servers?.join(', ')}; ${shards?.join(', ')}`
        : 'GET /v1/topology did not answer at the end',
    );
    return { whole, notes };
  }
  const forwardedBy = Date.now() + ADVICES_MS_MAX;
  for (const target of platform.processes) {
    let pending = -1;
    while (pending !== 0 && Date.now() < forwardedBy) {
      const stats = await send(target, 'GET', '/v1/stand-in/stats', {
        timeoutMs: ATTEMPT_TIMEOUT_MS,
      });
      pending = stats.status === 200 ? Number(stats.body.pendingAdvicesTotal) : -1;
      if (pending !== 0) await sleep(500);
    }
    if (pending !== 0) notes.push(`${target.name}: ${pending} stand-in advices still pending`);
  }
  return { whole, notes };
}

/** A failed run keeps its servers' logs (the home is deleted), named in the report's notes. */
function keepLogsOfFailure(platform: ChaosPlatform, report: ChaosReport): ChaosReport {
  if (!report.checks.some((check) => check.outcome === 'fail')) return report;
  const kept = platform.keepLogs();
  return { ...report, notes: [...report.notes, `server logs kept in ${kept}`] };
}

/** Waits (bounded) until every DC not lost is whole; false when it was not in time. */
async function waitWhole(platform: ChaosPlatform, lostDcs: readonly string[]): Promise<boolean> {
  const wholeBy = Date.now() + RECOVERY_MS_MAX;
  while (Date.now() < wholeBy && platform.upRunning()) {
    const topology = await platform.access.topology();
    const whole = topology?.dataCentres.every(
      (dc) => lostDcs.includes(dc.id) || dcIsWhole(topology, dc.id, lostDcs),
    );
    if (whole === true) return true;
    await sleep(500);
  }
  return false;
}

/**
 * The report of a run whose fleet did not become whole again: that alone fails it, and the
 * checks that need the fleet are not run (they would wait on servers that do not answer).
 */
function unrecovered(
  platform: ChaosPlatform,
  options: ChaosOptions,
  run: RunRecord,
  recoveryNotes: readonly string[],
  events: readonly FleetEvent[],
): ChaosReport {
  const notes = [
    ...recoveryNotes,
    'failover events since the load began:',
    ...events.map((e) => `  ${e.at} ${e.kind} ${e.server ?? e.dc ?? ''}: ${e.detail}`),
  ];
  const tail = platform
    .output()
    .trimEnd()
    .split('\n')
    .slice(-UP_OUTPUT_LINES)
    .map((line) =>
      line.length > UP_LINE_CHARS_MAX ? `${line.slice(0, UP_LINE_CHARS_MAX)}...` : line,
    );
  return {
    options,
    processes: platform.processes.map((p) => p.name),
    faults: run.injector.faults,
    checks: [
      {
        name: 'the fleet recovers',
        outcome: 'fail',
        detail: `not whole ${RECOVERY_MS_MAX} ms after the load (every server up in its role, none fenced, replicas streaming, copies replicating); the other checks were not run`,
        examples: [],
      },
    ],
    rto: rtoRows(run.ledger.operations, run.injector.faults),
    tails: tailReports(events),
    lost: noLostWrites(),
    load: { ...loadFigures(run.ledger), ...run.transfers.figures() },
    notes: [...notes, 'last lines of mainstay up:', ...tail],
  };
}

async function check(
  platform: ChaosPlatform,
  options: ChaosOptions,
  run: RunRecord,
  startedAt: number,
  notes: string[],
  random: SeededRandom,
): Promise<ChaosReport> {
  const { ledger, transfers, injector, cards, homes } = run;
  const router = platform.access.router;
  await router.refresh();
  const books = await readAuthorizationBooks(router, ledger);
  const lost = await findLostWrites(router, ledger, books);
  const ledgerBooks = await readLedgerBooks(router, transfers);
  const transfersAcked = addLostTransfers(transfers, ledgerBooks, lost, router);
  // An id whose decision the books lost is counted once, as a lost write (allowed only where a
  // tail was reported), not again as an id GET cannot find.
  const lostIds = new Set(
    [...lost.approvals, ...lost.declines].map((entry) => entry.split(' ')[1] ?? ''),
  );
  const lookups = await lookUpGivenIds(
    platform.processes,
    ledger,
    options.lookupCountMax,
    random,
    lostIds,
  );
  options.log?.(`looked up ${Math.min(options.lookupCountMax, ledger.authorizations.size)} ids`);
  const { books: accounts, missing } = await readAccounts(router, [
    ...new Set(cards.map((card) => card.accountId)),
  ]);
  for (const id of missing) {
    lost.accounts.push(`${id} opened (201), not in the books`);
    countLost(lost, router, id);
  }
  const upProcess = platform.processes[0];
  const events = upProcess ? await eventsSince(upProcess, startedAt) : [];
  const tails = tailReports(events);
  const checks: CheckResult[] = [
    lostWritesCheck(lost, acknowledgedCount(ledger) + transfersAcked, events, (database) => {
      const home = homes.get(database);
      return (
        options.config.mode === 'async' || (home !== undefined && injector.lostDcs.includes(home))
      );
    }),
    oneAnswerCheck(ledger, books, lookups),
    exposureCheck(accounts, options.config.standInCapPerAccount),
    await booksEqualApiCheck(accounts, platform.processes),
    await homeEqualsCopyCheck(platform.access, injector.lostDcs),
    staleListsCheck(ledger, lost),
    ...ledgerChecks(transfers, ledgerBooks),
  ];
  if (!platform.secondProcess)
    notes.push('one API process only: `mainstay api` is not in this checkout');
  return {
    options,
    processes: platform.processes.map((p) => p.name),
    faults: injector.faults,
    checks,
    rto: rtoRows(ledger.operations, injector.faults),
    tails,
    lost,
    load: { ...loadFigures(ledger), ...transfers.figures() },
    notes,
  };
}

/**
 * Lists that missed a card bound just before, through the other process and without a token. A
 * bind the books lost is not listed either; it is counted as lost (above), not as stale.
 */
function staleListsCheck(ledger: ClientLedger, lost: LostWrites): CheckResult {
  const lostBinds = new Set(lost.binds);
  const stale = ledger.staleLists.filter((entry) => !lostBinds.has(entry));
  const ofLost = ledger.staleLists.length - stale.length;
  return {
    name: '0 stale lists',
    outcome: stale.length === 0 ? 'pass' : 'fail',
    detail:
      `${stale.length} of ${ledger.listCount} lists through the other process right after a ` +
      `bind, without a token, missed the card${ofLost > 0 ? ` (and ${ofLost} missed a bind since lost)` : ''}`,
    examples: stale.slice(0, 5),
  };
}

/** GETs ids given out, through alternating processes: those not answered as given. */
async function lookUpGivenIds(
  processes: readonly ApiProcess[],
  ledger: ClientLedger,
  countMax: number,
  random: SeededRandom,
  lostIds: ReadonlySet<string>,
): Promise<string[]> {
  const given = new Map<string, string>();
  for (const trail of ledger.authorizations.values()) {
    for (const answer of trail.answers) {
      if (!lostIds.has(answer.id)) given.set(answer.id, answer.status);
    }
  }
  const ids = [...given.keys()];
  // A seeded partial shuffle: the first `countMax` are a uniform sample.
  for (let n = 0; n < Math.min(countMax, ids.length); n += 1) {
    const other = random.int(n, ids.length - 1);
    [ids[n], ids[other]] = [ids[other] ?? '', ids[n] ?? ''];
  }
  ids.length = Math.min(countMax, ids.length);
  const wrong: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next] ?? '';
      const target = processes[next % processes.length] ?? processes[0];
      next += 1;
      if (!target) return;
      const answer = await send(target, 'GET', `/v1/authorizations/${id}`, {
        timeoutMs: ATTEMPT_TIMEOUT_MS,
      });
      if (answer.status !== 200)
        wrong.push(`GET ${id} via ${target.name}: ${answer.status} ${answer.error}`);
      else if (answer.body.id !== id)
        wrong.push(`GET ${id} via ${target.name} answered ${answer.body.id}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return wrong;
}

function loadFigures(ledger: ClientLedger): Record<string, number> {
  const figures: Record<string, number> = {};
  for (const op of ledger.operations) {
    figures[`${op.op} operations`] = (figures[`${op.op} operations`] ?? 0) + 1;
    if (op.attempts > 1) figures[`${op.op} retried`] = (figures[`${op.op} retried`] ?? 0) + 1;
  }
  let standIn = 0;
  let approvals = 0;
  for (const trail of ledger.authorizations.values()) {
    if (trail.answers.some((a) => a.decidedBy === 'stand_in')) standIn += 1;
    if (trail.answers.some((a) => a.status === 'approved')) approvals += 1;
  }
  figures['request ids answered approved'] = approvals;
  figures['request ids answered by stand-in'] = standIn;
  figures['binds acknowledged'] = ledger.binds.length;
  return figures;
}
