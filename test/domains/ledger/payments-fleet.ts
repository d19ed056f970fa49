/**
 * A real fleet with the ledger and its payments started on it, for the payments tests: funded
 * customer accounts on chosen shards, the institution accounts payments use, a cross-shard
 * driver and the payments' job driven by hand, and the checks of the books.
 */
import assert from 'node:assert/strict';
import { newEntityId } from '../../../src/data/entity-id.ts';
import { IDEMPOTENCY_MIGRATIONS } from '../../../src/data/idempotency.ts';
import type { Router } from '../../../src/data/router.ts';
import { CrossShardDriver } from '../../../src/domains/ledger/core/cross-shard/cross-shard-driver.ts';
import { CROSS_SHARD_DEFAULTS } from '../../../src/domains/ledger/core/cross-shard/cross-shard-types.ts';
import { LedgerAccountService } from '../../../src/domains/ledger/core/ledger-account-service.ts';
import { LedgerEngine } from '../../../src/domains/ledger/core/ledger-engine.ts';
import type { PaymentsConfig } from '../../../src/domains/ledger/payments/core/payments-config.ts';
import {
  type PaymentServices,
  startPaymentServices,
} from '../../../src/domains/ledger/payments/payment-services.ts';
import { LEDGER_MIGRATIONS } from '../../../src/domains/ledger/sql/ledger-migrations.ts';
import { applyLedgerBatch } from '../../../src/domains/ledger/store/ledger-batch.ts';
import { checkLedgerBooks } from '../../../src/domains/ledger/store/ledger-checks.ts';
import { RootSecretRing, rootSecretOf } from '../../../src/secrets/root-secret-ring.ts';
import type { SecretsPort } from '../../../src/secrets/secrets-port.ts';
import { type FleetFixture, startFleet } from '../../support/fleet-fixture.ts';

export const CURRENCY = 'CNY';
export const FEES = 'fees';

/** The fleet, the ledger's services and the payments on it. */
export interface PaymentsFleet {
  readonly fixture: FleetFixture;
  readonly router: Router;
  readonly accounts: LedgerAccountService;
  readonly engine: LedgerEngine;
  readonly driver: CrossShardDriver;
  readonly secrets: SecretsPort;
  readonly services: PaymentServices;
  /** Two shards, each homed in its own data centre. */
  readonly shardA: number;
  readonly shardB: number;
  /** A customer account on `shardId` holding `funds`. */
  customerOn(shardId: number, funds: bigint, currency?: string): Promise<string>;
  balanceOf(id: string): Promise<bigint>;
  /** Runs the cross-shard driver and the fee settlement until nothing is left to do. */
  settle(): Promise<void>;
  /** Every shard's books hold, and nothing rests in transit. */
  assertBooksClean(): Promise<void>;
  /**
   * The payments of another API process on the same fleet: its own routers, engine and batches
   * (the job left stopped), stopped with the fleet.
   */
  otherProcess(): Promise<PaymentServices>;
  stop(): Promise<void>;
}

let counter = 0;
/** A unique id for this process. */
export function rid(label: string): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}`;
}

/** Starts a fleet with payments configured by `section` (the job left stopped). */
export async function startPaymentsFleet(
  label: string,
  section: PaymentsConfig,
): Promise<PaymentsFleet> {
  const fixture = await startFleet(label, {}, [IDEMPOTENCY_MIGRATIONS, LEDGER_MIGRATIONS]);
  const router = await fixture.router({ writeWaitMs: 2_000, connectTimeoutMs: 5_000 });
  const engineRouter = await fixture.router({ writeWaitMs: 2_000, connectTimeoutMs: 5_000 });
  const accounts = new LedgerAccountService(router, { stripesPerShard: 2 });
  const engine = new LedgerEngine(engineRouter, { writeWaitMs: 2_000 });
  const driver = new CrossShardDriver(router, engine, accounts, {
    backoffBaseMs: 20,
    backoffMaxMs: 200,
  });
  const root = rootSecretOf('payments-test-root-secret-of-32-characters-or-more');
  const ring = new RootSecretRing([root], root.id, null);
  const secrets: SecretsPort = { keysFor: async (purpose) => ring.keysFor(purpose) };
  const services = await startPaymentServices({
    router,
    engine,
    accounts,
    secrets,
    section,
    startJobs: false,
  });
  const others: { services: PaymentServices; engine: LedgerEngine }[] = [];
  async function otherProcess(): Promise<PaymentServices> {
    const options = { writeWaitMs: 2_000, connectTimeoutMs: 5_000 };
    const otherRouter = await fixture.router(options);
    const otherEngine = new LedgerEngine(await fixture.router(options), { writeWaitMs: 2_000 });
    const other = await startPaymentServices({
      router: otherRouter,
      engine: otherEngine,
      accounts: new LedgerAccountService(otherRouter, { stripesPerShard: 2 }),
      secrets,
      section,
      startJobs: false,
    });
    others.push({ services: other, engine: otherEngine });
    return other;
  }
  for (const [code, kind] of [
    [CROSS_SHARD_DEFAULTS.transitCode, 'in_transit'],
    [FEES, 'fees'],
    ['funding', 'suspense'],
  ] as const)
    await accounts.openInstitutionAccount({ code, kind, currency: CURRENCY });
  const homed = (dc: string) =>
    router.map.shardIds.find((id) => router.map.route(id).shard.homeDc === dc) as number;
  const shardA = homed('dc1');
  const shardB = homed('dc2');
  assert.notEqual(shardA, shardB);

  async function customerOn(shardId: number, funds: bigint, currency = CURRENCY) {
    const bucket = router.map.snapshot.buckets.find((range) => range.shardId === shardId)?.first;
    assert.notEqual(bucket, undefined);
    const { value } = await accounts.openAccount(
      { currency, kind: 'wallet', ownerId: newEntityId('cus', bucket as number) },
      { idempotencyKey: rid('open') },
    );
    if (funds > 0n) {
      const source = await accounts.stripeNear('funding', currency, value.id, 0);
      const [funded] = (
        await router.writeToShard(shardId, (tx) =>
          applyLedgerBatch(tx, [
            {
              kind: 'transfer',
              id: rid('fund'),
              debitAccountId: source,
              creditAccountId: value.id,
              amount: funds,
              currency,
            },
          ]),
        )
      ).value;
      assert.equal(funded?.status, 'posted');
    }
    return value.id;
  }

  async function settle(): Promise<void> {
    for (let round = 0; round < 50; round += 1) {
      const run = await driver.runOnce();
      const fees = await services.jobs.settleEndedFees();
      if (run.posted + run.voided + run.failed + fees === 0) return;
    }
    assert.fail('cross-shard payments did not settle');
  }

  async function assertBooksClean(): Promise<void> {
    for (const shardId of router.map.shardIds) {
      const { value } = await router.readShard(shardId, checkLedgerBooks, {
        consistency: 'primary',
      });
      assert.deepEqual(value, [], `the books of shard ${shardId}`);
    }
    const transit = await accounts.institutionAccount(CROSS_SHARD_DEFAULTS.transitCode, CURRENCY);
    assert.equal(transit.balance, 0n, 'in_transit nets to zero');
    assert.equal(transit.debitsPending + transit.creditsPending, 0n, 'nothing held in transit');
  }

  return {
    fixture,
    router,
    accounts,
    engine,
    driver,
    secrets,
    services,
    shardA,
    shardB,
    customerOn,
    balanceOf: async (id) => (await accounts.getAccount(id)).balance,
    settle,
    assertBooksClean,
    otherProcess,
    async stop() {
      for (const other of others) {
        await other.services.payments.close();
        await other.engine.close();
      }
      await services.jobs.stop();
      await services.payments.close();
      await driver.stop();
      await engine.close();
      await fixture.stop();
    },
  };
}
