import { randomInt } from 'node:crypto';
import type { Router } from '../../src/data/router.ts';
import type { CardBindingService } from '../../src/domains/cards/core/binding/binding-service.ts';
import { luhnCheckDigit } from '../../src/domains/cards/core/card-number.ts';
import { quantile } from '../support/closed-loop.ts';

export const LISTS = {
  userCount: 300,
  writerCount: 2,
  readerCount: 12,
  durationMs: 6_000,
} as const;

export interface ListFigures {
  readonly binds: number;
  readonly lists: number;
  readonly readWriteRatio: number;
  readonly replicaShare: number;
  /** Lists (with the user's latest token) missing a card whose bind was acknowledged before. */
  readonly staleLists: number;
  readonly listP50Ms: number;
  readonly listP99Ms: number;
}

function randomCardNumber(): string {
  let body = '622202';
  while (body.length < 15) body += String(randomInt(10));
  return body + String(luhnCheckDigit(body));
}

/**
 * The payment service's bound-card list on read/write splitting: writers bind cards through
 * one API instance (router A), readers list them through another (router B) passing the user's
 * latest consistency token, as a client app carries it. Every list is checked against the binds
 * acknowledged before it started: a missing card is a stale read.
 */
export async function runBoundCardLists(
  serviceA: CardBindingService,
  serviceB: CardBindingService,
  routerB: Router,
  runId: string,
): Promise<ListFigures> {
  const users: { id: string; token: string | null; bound: string[] }[] = [];
  for (let n = 0; n < LISTS.userCount; n += 1) {
    const created = await serviceA.createUser(
      { fullName: `Double Eleven ${n}` },
      { idempotencyKey: `${runId}-user-${n}` },
    );
    users.push({ id: created.value.id, token: created.token, bound: [] });
  }
  const before = new Map(routerB.stats.reads);
  const deadline = performance.now() + LISTS.durationMs;
  let binds = 0;
  let stale = 0;
  const listLatencies: number[] = [];
  const list = async (user: (typeof users)[number]) => {
    const expected = [...user.bound];
    const begun = performance.now();
    const page = await serviceB.listCards(user.id, { token: user.token, limit: 100 });
    listLatencies.push(performance.now() - begun);
    const seen = new Set(page.data.map((card) => card.id));
    if (expected.some((id) => !seen.has(id))) stale += 1;
  };
  const writer = async (w: number) => {
    for (let n = 0; performance.now() < deadline; n += 1) {
      const user = users[randomInt(users.length)] as (typeof users)[number];
      if (user.bound.length >= 15) continue;
      const bound = await serviceA.bindCard(
        user.id,
        { cardNumber: randomCardNumber(), expiryMonth: 12, expiryYear: 2031 },
        { idempotencyKey: `${runId}-bind-${w}-${n}`, token: user.token },
      );
      binds += 1;
      // Two writers may bind for one user at once: keep the later of both positions.
      user.token = routerB.mergeTokens(user.token, bound.token);
      user.bound.push(bound.value.id);
      await list(user);
    }
  };
  const reader = async () => {
    while (performance.now() < deadline) {
      await list(users[randomInt(users.length)] as (typeof users)[number]);
    }
  };
  await Promise.all([
    ...Array.from({ length: LISTS.writerCount }, (_, w) => writer(w)),
    ...Array.from({ length: LISTS.readerCount }, reader),
  ]);
  const delta = (key: string) => (routerB.stats.reads.get(key) ?? 0) - (before.get(key) ?? 0);
  const replica = delta('replica:session');
  const primary = delta('primary:session');
  listLatencies.sort((a, b) => a - b);
  return {
    binds,
    lists: listLatencies.length,
    readWriteRatio: listLatencies.length / Math.max(1, binds),
    replicaShare: replica / Math.max(1, replica + primary),
    staleLists: stale,
    listP50Ms: quantile(listLatencies, 0.5),
    listP99Ms: quantile(listLatencies, 0.99),
  };
}
