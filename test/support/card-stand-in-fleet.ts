import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BypassSpool } from '../../src/data/bypass/bypass-spool.ts';
import { IDEMPOTENCY_MIGRATIONS } from '../../src/data/idempotency.ts';
import type { Router } from '../../src/data/router.ts';
import { CardAccountService } from '../../src/domains/cards/core/accounts/card-account-service.ts';
import { AuthorizationEngine } from '../../src/domains/cards/core/authorization/authorization-engine.ts';
import type {
  AuthorizationOutcome,
  AuthorizationRequest,
} from '../../src/domains/cards/core/authorization/authorization-types.ts';
import type { CachedCard } from '../../src/domains/cards/core/stand-in/card-status-cache.ts';
import {
  engineIssuerPath,
  replicaCardSource,
} from '../../src/domains/cards/core/stand-in/engine-issuer-path.ts';
import type { StandInLimits } from '../../src/domains/cards/core/stand-in/stand-in-limits.ts';
import type { StandInOptions } from '../../src/domains/cards/core/stand-in/stand-in-options.ts';
import { StandInProcessor } from '../../src/domains/cards/core/stand-in/stand-in-processor.ts';
import { AUTHORIZATION_MIGRATIONS } from '../../src/domains/cards/sql/authorization-migrations.ts';
import { CARD_ACCOUNT_MIGRATIONS } from '../../src/domains/cards/sql/card-account-migrations.ts';
import {
  openStandInRegistry,
  type StandInRegistry,
} from '../../src/domains/cards/store/stand-in-registry.ts';
import { CATALOG_DATABASE } from '../../src/fleet/fleet.ts';
import { readBooks } from './card-books.ts';
import { startFleet } from './fleet-fixture.ts';

export const DAY_MS = 24 * 60 * 60 * 1000;

/** Tight stand-in limits, for the rule tests. */
export const LIMITS: StandInLimits = {
  windowMs: DAY_MS,
  perTransactionMax: 10_000n,
  cardCountMax: 4,
  cardAmountMax: 25_000n,
  categoryCountMax: 2,
  categoryAmountMax: 15_000n,
  accountExposureMax: 1_000_000_000n,
  cardExposureMax: 1_000_000_000n,
  blockedCategories: ['7995', '6051', '4829'],
  categoryOverrides: { '5812': { countMax: 1, perTransactionMax: 3_000n } },
};

/** Limits the fleet tests do not run into (unless a test means to). */
export const FLEET_LIMITS: StandInLimits = {
  ...LIMITS,
  perTransactionMax: 100_000n,
  cardCountMax: 1_000,
  cardAmountMax: 10_000_000n,
  categoryCountMax: 1_000,
  categoryAmountMax: 10_000_000n,
  categoryOverrides: {},
};

/**
 * Bounds for a machine that also runs the rest of the suite (2 cores, several fleets): slow
 * batches must not divert to stand-in for latency, and a card read, a registry round trip or a
 * replica catch-up that is merely slow must not turn into a stand-in decline, which these
 * tests would read as a rule at work. A test that means to trigger one sets its own bound.
 */
export const LOADED_MACHINE = {
  latencyStandInMs: 60_000,
  cardReadTimeoutMs: 10_000,
  registryTimeoutMs: 10_000,
  acknowledgedReadTimeoutMs: 10_000,
} as const;

/** A 1,000 CNY grocery request (fields override). */
export function request(
  cardId: string,
  requestId: string,
  fields: Partial<AuthorizationRequest> = {},
) {
  return {
    requestId,
    cardId,
    amount: 1_000n,
    currency: 'CNY',
    merchantId: 'm_1',
    merchantCategory: '5411',
    merchantReference: null,
    ...fields,
  } satisfies AuthorizationRequest;
}

/** A usable card as the cache would hold it at `nowMs`, valid two more years. */
export function activeCard(
  cardId: string,
  nowMs: number,
  fields: Partial<CachedCard> = {},
): CachedCard {
  const now = new Date(nowMs);
  return {
    cardId,
    state: 'active',
    accountId: 'acct_x',
    currency: 'CNY',
    expiry: { month: now.getUTCMonth() + 1, year: now.getUTCFullYear() + 2 },
    observedAtMs: nowMs,
    ...fields,
  };
}

/** Polls `check` every 50 ms for up to 30 s; on a time-out the failure says what `state` saw. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  state?: () => string,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}${state ? `: ${state()}` : ''}`);
}

/** Spool directories made by this test process, removed when it exits. */
const spoolDirs = new Set<string>();

/** A fresh spool directory under the system's temporary directory, removed at exit. */
export function spoolDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mainstay-stand-in-'));
  if (spoolDirs.size === 0)
    process.once('exit', () => {
      for (const made of spoolDirs) rmSync(made, { recursive: true, force: true });
    });
  spoolDirs.add(dir);
  return dir;
}

/** Opens the advice spool of `dir`. */
export function openSpool(dir: string): Promise<BypassSpool> {
  return BypassSpool.open({ dir, name: 'advices' });
}

/**
 * What the stand-in fleet tests share: the router, the real engine and the accounts service of
 * one fleet, with the helpers that open accounts, start processors and read the primaries.
 */
export class StandInBed {
  readonly router: Router;
  readonly engine: AuthorizationEngine;
  readonly accounts: CardAccountService;
  /** The fleet's stand-in registry (on the witness), shared by every processor of the bed. */
  readonly registry: StandInRegistry;
  #keyCounter = 0;

  constructor(
    router: Router,
    engine: AuthorizationEngine,
    accounts: CardAccountService,
    registry: StandInRegistry,
  ) {
    this.router = router;
    this.engine = engine;
    this.accounts = accounts;
    this.registry = registry;
  }

  /**
   * A processor on the real engine and replica card reads, with the fleet limits. Pass a
   * registry connection of its own to stand for a separate API process on the same fleet.
   */
  startProcessor(
    spool: BypassSpool,
    options: Partial<StandInOptions>,
    registry: StandInRegistry = this.registry,
  ): StandInProcessor {
    const { router, engine } = this;
    return StandInProcessor.start(
      {
        router,
        issuer: engineIssuerPath(router, engine),
        cards: replicaCardSource(router),
        spool,
        registry,
      },
      { limits: FLEET_LIMITS, ...LOADED_MACHINE, ...options },
    );
  }

  /** An account homed in `dc` (accounts elsewhere are left unused) and `cards` cards on it. */
  async accountWithCards(dc: string, creditLimit: bigint, cards: number) {
    const { router, accounts } = this;
    for (;;) {
      this.#keyCounter += 1;
      const { value: account } = await accounts.createAccount(
        { currency: 'CNY', creditLimit },
        { idempotencyKey: `stand-in-acct-${process.pid}-${this.#keyCounter}` },
      );
      if (router.map.route(router.map.shardOf(account.id)).shard.homeDc !== dc) continue;
      const ids: string[] = [];
      for (let i = 0; i < cards; i += 1) {
        const key = `stand-in-card-${process.pid}-${this.#keyCounter}-${i}`;
        const options = { velocityCountMax: 100_000, velocityWindowSeconds: 60 };
        ids.push((await accounts.issueCard(account.id, options, { idempotencyKey: key })).value.id);
      }
      for (const id of ids) await this.onReplica(id);
      return { accountId: account.id, cardIds: ids, shardId: router.map.shardOf(account.id) };
    }
  }

  /** Account totals against the sum of its authorizations, read on the primary. */
  async creditCheck(accountId: string) {
    const read = await readBooks(this.router, accountId);
    return {
      held: read.held,
      posted: read.posted,
      available: read.limit - read.held - read.posted,
      openHolds: read.openHolds,
      captured: read.captured,
    };
  }

  /** The issuer's authorizations of (card, request id) pairs, read on the primaries. */
  async issuerAuthorizations(outcomes: readonly AuthorizationOutcome[]) {
    const found = new Map<string, { id: string; status: string; held: bigint; state: string }>();
    for (const shardId of this.router.map.shardIds) {
      const { value } = await this.router.readShard(
        shardId,
        (db) =>
          db.query<{
            id: string;
            card_id: string;
            request_id: string;
            status: string;
            held_amount: string;
            hold_state: string;
          }>(
            `SELECT id, card_id, request_id, status, held_amount, hold_state
               FROM public.authorizations WHERE (card_id || ':' || request_id) = ANY ($1)`,
            [outcomes.map((o) => `${o.cardId}:${o.requestId}`)],
          ),
        { consistency: 'primary' },
      );
      for (const row of value.rows) {
        found.set(`${row.card_id}:${row.request_id}`, {
          id: row.id,
          status: row.status,
          held: BigInt(row.held_amount),
          state: row.hold_state,
        });
      }
    }
    return found;
  }

  /** Waits until a replica of the card's shard holds the card (stand-in reads it there). */
  async onReplica(cardId: string): Promise<void> {
    const source = replicaCardSource(this.router);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (await source.readCard(cardId).catch(() => null)) return;
      await sleep(50);
    }
    assert.fail(`card ${cardId} never reached a replica`);
  }

  /** Waits until the router's monitor sees server `id` healthy. */
  async waitHealthy(id: string): Promise<void> {
    const { monitor } = this.router;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !monitor.observe(id).healthy) await sleep(50);
    assert.ok(monitor.observe(id).healthy, `${id} healthy again`);
  }
}

/**
 * Starts the one fleet of the stand-in tests with the card schema, a router, the engine (with
 * a hold TTL that is not the default: stand-in must take the engine's, not a copy of the
 * default) and the accounts service.
 */
export async function startStandInBed(label: string) {
  const fixture = await startFleet(label, {}, [
    IDEMPOTENCY_MIGRATIONS,
    CARD_ACCOUNT_MIGRATIONS,
    AUTHORIZATION_MIGRATIONS,
  ]);
  const router = await fixture.router({ writeWaitMs: 1_500 });
  const engine = new AuthorizationEngine(router, {
    writeWaitMs: 1_000,
    batchWindowMicros: 2_000,
    holdTtlSeconds: 3_600,
  });
  const registry = await openStandInRegistry({
    ...fixture.fleet.connection(fixture.config.witness.id),
    database: CATALOG_DATABASE,
  });
  const accounts = new CardAccountService(router);
  const bed = new StandInBed(router, engine, accounts, registry.registry);
  return {
    fixture: {
      ...fixture,
      stop: async () => {
        await registry.close();
        await fixture.stop();
      },
    },
    bed,
  };
}

/** Authorizations from `workers` concurrent callers until stopped; every answer and error kept. */
export function stream(processor: StandInProcessor, cardIds: readonly string[], workers: number) {
  const outcomes: AuthorizationOutcome[] = [];
  const errors: unknown[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async (_, worker) => {
    for (let n = 0; running; n += 1) {
      const cardId = cardIds[(worker + n) % cardIds.length] as string;
      try {
        outcomes.push(
          await processor.authorize(request(cardId, `kill-${worker}-${n}`, { amount: 300n })),
        );
      } catch (error) {
        errors.push(error);
      }
      await sleep(5);
    }
  });
  return {
    outcomes,
    errors,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
