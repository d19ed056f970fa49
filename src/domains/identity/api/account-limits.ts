/**
 * Limits per account, on top of the limits per address: a login, a code sent or a code checked
 * counts toward the account it names (a staff username, a customer's phone), whichever address
 * it comes from, so spreading a guessing attack or a flood of text messages over many addresses
 * gains nothing. Counted by `@fastify/rate-limit` (its `createRateLimit`, with a store of its own
 * per limit), in this process's memory: with several API processes behind a balancer, each keeps
 * its own count.
 *
 * The key is an HMAC-SHA256 of the normalised value under a random key of this process, so the
 * store holds no username or phone number and its keys cannot be enumerated or reversed by
 * hashing every phone number. The answer is the same whether the account exists or not: the
 * limit is looked at before anything is read.
 *
 * Why not `fastify.rateLimit()` as a preHandler: on a route that also has the per-address limit
 * (`config.rateLimit`), the plugin marks the request as limited already and the second handler
 * returns without counting.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { CreateRateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MainstayError } from '../../../errors/mainstay-error.ts';

/** One limit: at most `max` calls per `windowMs` for one account. */
export interface AccountLimit {
  readonly max: number;
  readonly windowMs: number;
  /** What one count stands for, in the refusal ("username", "phone number"). */
  readonly per: string;
}

/** The window of every per-account limit: the lockout's 15 minutes. */
export const ACCOUNT_WINDOW_MS = 15 * 60_000;

/** Accounts each limit remembers (least recently seen go first): about 100 bytes each. */
export const ACCOUNT_KEYS_MAX = 50_000;

/** The normalised account a request names, or `null` when it names none worth counting. */
export type AccountOf = (request: FastifyRequest) => string | null;

/**
 * A preHandler (the body is parsed by then) that answers `429 rate_limited`, with
 * `Retry-After`, once the account `accountOf` names has made more than `limit.max` calls in
 * the window.
 */
export function accountLimiter(
  app: FastifyInstance,
  limit: AccountLimit,
  accountOf: AccountOf,
): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const secret = randomBytes(32);
  const keyOf = (account: string) =>
    createHmac('sha256', secret)
      .update(account, 'utf8')
      .digest()
      .subarray(0, 16)
      .toString('base64url');
  // `cache` is the plugin's option for the size of its memory store; createRateLimit passes it
  // on to the store it creates, though its type leaves it out.
  const options: CreateRateLimitOptions & { cache: number } = {
    max: limit.max,
    timeWindow: limit.windowMs,
    cache: ACCOUNT_KEYS_MAX,
    keyGenerator: (request) => keyOf(accountOf(request) ?? ''),
  };
  const check = app.createRateLimit(options);
  return async (request, reply) => {
    if (accountOf(request) === null) return;
    const verdict = await check(request);
    if (verdict.isAllowed || !verdict.isExceeded) return;
    reply.header('x-ratelimit-limit', verdict.max);
    reply.header('x-ratelimit-remaining', 0);
    reply.header('x-ratelimit-reset', verdict.ttlInSeconds);
    reply.header('retry-after', verdict.ttlInSeconds);
    throw new MainstayError(
      'rate_limited',
      `at most ${limit.max} attempts in ${limit.windowMs / 60_000} minutes for one ${limit.per}; retry after ${verdict.ttlInSeconds} seconds`,
    );
  };
}

/** A username as counted: Unicode NFKC, trimmed, lower case (`Olga` and `olga` count as one). */
export function normalisedUsername(username: unknown): string | null {
  if (typeof username !== 'string') return null;
  const normalised = username.normalize('NFKC').trim().toLowerCase();
  return normalised === '' ? null : `username:${normalised}`;
}
