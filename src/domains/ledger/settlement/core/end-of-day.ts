/**
 * The end-of-day checks of the whole ledger (decision 51): the trial balance over every shard
 * (each currency's debits equal its credits, posted and pending), each shard's books (0003's
 * `ledger_check_books`: every account's totals equal to its postings), the pending transfers
 * left open past their timeout, and whatever checks the entry point plugs in (a card account
 * equal to its ledger accounts...). Every break is reported with its subject and its figures;
 * a check that cannot run is a break too, never a silent pass.
 */
import type { Queryable, Router } from '../../../../data/router.ts';
import { checkLedgerBooks } from '../../store/ledger-checks.ts';
import {
  type CurrencyTotals,
  readCurrencyTotals,
  readOverduePending,
} from '../store/end-of-day-store.ts';

/** One break: what kind, where (a shard, or `null` for the whole ledger), on what, the figures. */
export interface EndOfDayBreak {
  readonly kind: string;
  readonly shardId: number | null;
  /** A currency, an account, a transfer: what the break is about. */
  readonly subject: string;
  readonly expected: string;
  readonly actual: string;
}

/** What a check finds: its breaks, none when everything holds. */
export interface CheckResult {
  readonly breaks: readonly EndOfDayBreak[];
}

/**
 * A check the entry point plugs into the end-of-day report (the port through which another
 * domain's books are compared with the ledger without the ledger knowing that domain).
 *
 * @example
 * endOfDay.addCheck({ name: 'card_accounts', run: async () => ({ breaks: await compare() }) });
 */
export interface EndOfDayCheck {
  /** Its name in the report: 1-64 of a-z, 0-9 and `_`. */
  readonly name: string;
  run(): Promise<CheckResult>;
}

/** One check in the report. */
export interface CheckReport {
  readonly name: string;
  readonly ok: boolean;
  /** Every break the check found; `breaks` holds the first `breaksPerCheckMax`. */
  readonly breakCount: number;
  readonly breaks: readonly EndOfDayBreak[];
}

/** The end-of-day report: the ledger-wide trial balance and every check, broken or not. */
export interface EndOfDayReport {
  readonly asOf: Date;
  readonly ok: boolean;
  /** Each currency's four totals summed over every account of every shard. */
  readonly trialBalance: readonly CurrencyTotals[];
  readonly checks: readonly CheckReport[];
}

/** The built-in checks, in report order. */
export const BUILT_IN_CHECKS = ['trial_balance', 'books', 'pending_past_timeout'] as const;

/** Breaks a check lists at most (their count is always whole). */
export const BREAKS_PER_CHECK_MAX_DEFAULT = 100;
/** How long past its timeout a pending transfer may wait for the sweep before it is a break. */
export const PENDING_GRACE_MS_DEFAULT = 60_000;
const CHECK_NAME = /^[a-z0-9_]{1,64}$/;
const CHECKS_PLUGGED_MAX = 32;

/**
 * Runs the end-of-day checks on every shard's primary and reports them.
 *
 * @example
 * const report = await new EndOfDayService(router).run();
 * if (!report.ok) page(report.checks.filter((check) => !check.ok));
 */
export class EndOfDayService {
  readonly #router: Router;
  readonly #graceMs: number;
  readonly #breaksMax: number;
  readonly #plugged: EndOfDayCheck[] = [];

  constructor(
    router: Router,
    options: {
      readonly pendingGraceMs?: number;
      readonly breaksPerCheckMax?: number;
      readonly checks?: readonly EndOfDayCheck[];
    } = {},
  ) {
    this.#router = router;
    this.#graceMs = options.pendingGraceMs ?? PENDING_GRACE_MS_DEFAULT;
    this.#breaksMax = options.breaksPerCheckMax ?? BREAKS_PER_CHECK_MAX_DEFAULT;
    if (!Number.isSafeInteger(this.#graceMs) || this.#graceMs < 0)
      throw new RangeError(`pendingGraceMs must be a non-negative integer, got ${this.#graceMs}`);
    if (!Number.isSafeInteger(this.#breaksMax) || this.#breaksMax < 1)
      throw new RangeError(`breaksPerCheckMax must be a positive integer, got ${this.#breaksMax}`);
    for (const check of options.checks ?? []) this.addCheck(check);
  }

  /** Plugs in another check, reported after the built-in ones under its own name. */
  addCheck(check: EndOfDayCheck): void {
    if (!CHECK_NAME.test(check.name))
      throw new RangeError(`an end-of-day check's name must match ${CHECK_NAME}: ${check.name}`);
    const taken = [...BUILT_IN_CHECKS, ...this.#plugged.map((c) => c.name)] as string[];
    if (taken.includes(check.name))
      throw new RangeError(`there is an end-of-day check named ${check.name} already`);
    if (this.#plugged.length >= CHECKS_PLUGGED_MAX)
      throw new RangeError(`at most ${CHECKS_PLUGGED_MAX} end-of-day checks can be plugged in`);
    this.#plugged.push(check);
  }

  /** Runs every check now and reports them; it writes nothing. */
  async run(): Promise<EndOfDayReport> {
    const asOf = new Date();
    const shards = await Promise.all(
      this.#router.map.shardIds.map((shardId) => this.#shard(shardId)),
    );
    const trialBalance = sumTotals(shards.flatMap((shard) => shard.totals));
    const unreadable = shards.flatMap((shard) => shard.unreadable);
    const trialBreaks = [...unreadable, ...trialBalanceBreaks(trialBalance)];
    const plugged = await Promise.all(this.#plugged.map((check) => runPlugged(check)));
    const checks = [
      this.#report('trial_balance', trialBreaks),
      this.#report('books', [...unreadable, ...shards.flatMap((shard) => shard.books)]),
      this.#report('pending_past_timeout', [
        ...unreadable,
        ...shards.flatMap((shard) => shard.overdue),
      ]),
      ...plugged.map(({ name, breaks }) => this.#report(name, breaks)),
    ];
    return { asOf, ok: checks.every((check) => check.ok), trialBalance, checks };
  }

  #report(name: string, breaks: readonly EndOfDayBreak[]): CheckReport {
    return {
      name,
      ok: breaks.length === 0,
      breakCount: breaks.length,
      breaks: breaks.slice(0, this.#breaksMax),
    };
  }

  /** One shard's figures and breaks, read in one read-only pass of its primary. */
  async #shard(shardId: number) {
    try {
      const { value } = await this.#router.readShard(
        shardId,
        async (db: Queryable) => ({
          totals: await readCurrencyTotals(db),
          books: await checkLedgerBooks(db),
          overdue: await readOverduePending(db, this.#graceMs, this.#breaksMax),
        }),
        { consistency: 'primary' },
      );
      return {
        totals: value.totals,
        unreadable: [] as EndOfDayBreak[],
        books: value.books.map((b) => ({ kind: b.check, shardId, ...pick(b) })),
        overdue: overdueBreaks(shardId, value.overdue),
      };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const unreadable: EndOfDayBreak = {
        kind: 'shard_unreadable',
        shardId,
        subject: `shard ${shardId}`,
        expected: 'its books read',
        actual: reason,
      };
      return { totals: [], unreadable: [unreadable], books: [], overdue: [] };
    }
  }
}

function pick(found: { subject: string; expected: string; actual: string }) {
  return { subject: found.subject, expected: found.expected, actual: found.actual };
}

/** The overdue pending transfers as breaks, with one for those beyond the listed ones. */
function overdueBreaks(
  shardId: number,
  overdue: Awaited<ReturnType<typeof readOverduePending>>,
): EndOfDayBreak[] {
  const breaks: EndOfDayBreak[] = overdue.first.map((transfer) => ({
    kind: 'pending_past_timeout',
    shardId,
    subject: transfer.id,
    expected: `voided at ${transfer.timeoutAt.toISOString()}`,
    actual: `open: ${transfer.amount} ${transfer.currency} from ${transfer.debitAccountId} to ${transfer.creditAccountId}`,
  }));
  const unlisted = overdue.total - overdue.first.length;
  if (unlisted > 0)
    breaks.push({
      kind: 'pending_past_timeout',
      shardId,
      subject: `${unlisted} more`,
      expected: 'voided',
      actual: `${unlisted} more pending transfers open past their timeout`,
    });
  return breaks;
}

/** The totals of every shard added up per currency, by code. */
function sumTotals(parts: readonly CurrencyTotals[]): CurrencyTotals[] {
  const sums = new Map<string, CurrencyTotals>();
  for (const part of parts) {
    const found = sums.get(part.currency);
    sums.set(
      part.currency,
      found === undefined
        ? part
        : {
            currency: part.currency,
            debitsPosted: found.debitsPosted + part.debitsPosted,
            creditsPosted: found.creditsPosted + part.creditsPosted,
            debitsPending: found.debitsPending + part.debitsPending,
            creditsPending: found.creditsPending + part.creditsPending,
          },
    );
  }
  return [...sums.values()].sort((a, b) => (a.currency < b.currency ? -1 : 1));
}

/** A currency whose debits and credits differ, posted or pending: expected debits, actual credits. */
function trialBalanceBreaks(trialBalance: readonly CurrencyTotals[]): EndOfDayBreak[] {
  return trialBalance.flatMap((totals) => [
    ...(totals.debitsPosted === totals.creditsPosted
      ? []
      : [
          {
            kind: 'trial_balance_posted',
            shardId: null,
            subject: totals.currency,
            expected: `credits equal to the debits, ${totals.debitsPosted}`,
            actual: `credits ${totals.creditsPosted} (off by ${totals.creditsPosted - totals.debitsPosted})`,
          },
        ]),
    ...(totals.debitsPending === totals.creditsPending
      ? []
      : [
          {
            kind: 'trial_balance_pending',
            shardId: null,
            subject: totals.currency,
            expected: `pending credits equal to the pending debits, ${totals.debitsPending}`,
            actual: `pending credits ${totals.creditsPending} (off by ${totals.creditsPending - totals.debitsPending})`,
          },
        ]),
  ]);
}

/** A plugged check's breaks, or the break saying it could not run. */
async function runPlugged(
  check: EndOfDayCheck,
): Promise<{ name: string; breaks: EndOfDayBreak[] }> {
  try {
    const result = await check.run();
    return { name: check.name, breaks: [...result.breaks] };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      name: check.name,
      breaks: [
        {
          kind: 'check_failed',
          shardId: null,
          subject: check.name,
          expected: 'a result',
          actual: reason,
        },
      ],
    };
  }
}
