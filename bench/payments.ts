/**
 * Cross-shard payments benchmark (decision 50): `PaymentTransfers.pay` across shards, whose
 * starts made at once share one transaction a batch on the payer's shard, side by side with the
 * same service whose batches hold one start each (`batchSizeMax: 1`: a transaction and a
 * synchronous commit per payment, as before the batching). Same fleet, same code path, rounds
 * interleaved; payments a second, the median of the rounds, with few payers (their rows and the
 * stripes they touch are hot) and with many.
 *
 *   npm run bench:payments [-- --rounds 3 --payments 600 --concurrency 32]
 */
import { parseArgs } from 'node:util';
import { feeRulesOf } from '../src/domains/ledger/payments/core/fee-rules.ts';
import { PaymentTransfers } from '../src/domains/ledger/payments/core/payment-transfers.ts';
import { FEES_ACCOUNT_CODE_DEFAULT } from '../src/domains/ledger/payments/core/payments-config.ts';
import { CURRENCY, rid, startPaymentsFleet } from '../test/domains/ledger/payments-fleet.ts';
import { heading, printTable } from './support/report.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    payments: { type: 'string', default: '600' },
    concurrency: { type: 'string', default: '32' },
  },
});
const ROUNDS = Number(values.rounds);
const PAYMENTS = Number(values.payments);
const CONCURRENCY = Number(values.concurrency);
const PAYER_COUNTS = [8, 64];
const PAYEE_COUNT = 6;
const FEE_RULES = [{ kind: 'batch', currency: CURRENCY, fixed: 1 }] as const;

const fleet = await startPaymentsFleet('bench-payments', { fees: [...FEE_RULES] });
const unbatched = new PaymentTransfers({
  router: fleet.router,
  engine: fleet.engine,
  accounts: fleet.accounts,
  fees: feeRulesOf([...FEE_RULES]),
  feesAccountCode: FEES_ACCOUNT_CODE_DEFAULT,
  startBatching: { batchSizeMax: 1 },
});

/** Payments a second: `PAYMENTS` cross-shard payments from `payers`, `CONCURRENCY` in flight. */
async function rate(
  service: PaymentTransfers,
  payers: readonly string[],
  payees: readonly string[],
) {
  let next = 0;
  const startedAt = performance.now();
  const worker = async () => {
    for (let n = next++; n < PAYMENTS; n = next++) {
      const { value } = await service.pay({
        id: rid('bench'),
        kind: 'batch',
        payerAccountId: payers[n % payers.length] as string,
        payeeAccountId: payees[n % payees.length] as string,
        amount: 100n,
        currency: CURRENCY,
      });
      if (value.status !== 'pending') throw new Error(`a payment answered ${value.status}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return (PAYMENTS * 1_000) / (performance.now() - startedAt);
}

const median = (xs: readonly number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

try {
  heading(`cross-shard payments: ${PAYMENTS} a round, ${CONCURRENCY} in flight, ${ROUNDS} rounds`);
  const rows: string[][] = [];
  const funds = BigInt(PAYMENTS * ROUNDS * 2) * 200n;
  for (const payerCount of PAYER_COUNTS) {
    const payers: string[] = [];
    const payees: string[] = [];
    for (let n = 0; n < payerCount; n += 1)
      payers.push(await fleet.customerOn(fleet.shardA, funds));
    for (let n = 0; n < PAYEE_COUNT; n += 1) payees.push(await fleet.customerOn(fleet.shardB, 0n));
    await rate(fleet.services.payments, payers, payees); // warm-up: pools, stripes, plans
    const ours: number[] = [];
    const baseline: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      ours.push(await rate(fleet.services.payments, payers, payees));
      baseline.push(await rate(unbatched, payers, payees));
    }
    const [a, b] = [median(ours), median(baseline)];
    rows.push([`${payerCount} payers`, a.toFixed(0), b.toFixed(0), `${(a / b).toFixed(1)}x`]);
  }
  printTable(['payers', 'batched starts /s', 'one transaction each /s', 'ratio'], rows);
  await fleet.settle();
  await fleet.assertBooksClean();
  console.log('books clean after every payment settled');
} finally {
  await unbatched.close();
  await fleet.stop();
}
