/**
 * Access benchmark: what checking credentials costs the API, side by side in one run on one
 * platform. `POST /v1/authorizations` under the same closed-loop load from another process
 * (bench/support/http-load-child.ts) against
 *   (a) the platform's own server with an OAuth2 access token (a JWT, verified once and cached),
 *   (b) the same server with an API key (looked up on its shard, cached a few seconds, its
 *       secret hashed and compared on every request), and
 *   (c) a second HTTP server in the same process with the same card routes and no access
 *       control at all (authentication off),
 * alternating the modes over rounds (each round in a rotated order); the median round per mode
 * and the cost of authentication in percent of throughput. Also the token endpoint's own cost:
 * sequential `POST /oauth/token` calls, milliseconds per token; and the password hashing cost
 * per login (argon2id with the platform's options), beside an API key's digest check.
 *
 *   npm run bench:access        (--rounds 9 --ops 3000 --concurrency 64 --accounts 300 --tokens 200)
 *   npm run bench:access -- --rounds 15 --ops 10000
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { hash, verify } from '@node-rs/argon2';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../src/config/load-config.ts';
import { cardsModule } from '../src/domains/cards/module.ts';
import { secretDigest, secretMatches } from '../src/domains/identity/core/credentials.ts';
import { PASSWORD_HASH_OPTIONS } from '../src/domains/identity/core/staff/passwords.ts';
import type { DemoCredentials } from '../src/domains/identity/demo/demo-credentials.ts';
import { buildHttpServer } from '../src/http/build-http-server.ts';
import { CONFIG_SECTIONS, MODULES } from '../src/modules.ts';
import { type Platform, startPlatform } from '../src/platform/platform.ts';
import { removeHome, tempHome } from '../test/support/temp-home.ts';
import { runHttpLoad, urlOf } from './double11/http-ceiling.ts';
import { median, quantile } from './support/closed-loop.ts';
import {
  assertAuthenticated,
  bearer,
  fetchAccessToken,
  readDemoCredentials,
} from './support/demo-access.ts';
import type { HttpLoadResult } from './support/http-load-child.ts';
import { heading, printSummary, printTable, type SummaryRow } from './support/report.ts';

/** The target: authentication with JWTs costs at most this share of throughput. */
const JWT_COST_MAX = 0.1;
/** Far above what any run can hold: no authorization is declined for credit. */
const CREDIT_LIMIT = 1_000_000_000_000;
/**
 * Each card's velocity rule, out of the way (at most 100,000 approvals a second): with the
 * default (100 an hour), Zipf-popular cards are soon declined, and each round would measure a
 * different mix of approvals and declines.
 */
const CARD_BODY = { velocityCountMax: 100_000, velocityWindowSeconds: 1 } as const;
/** Account and card creations in flight while seeding. */
const SEED_PARALLELISM = 8;
/** Requests per mode before the first round, not counted (JIT, pools, caches). */
const WARM_UP_OPS = 3_000;

const { values: args } = parseArgs({
  options: {
    // Many short runs rather than a few long ones: on a shared machine the throughput drifts
    // over tens of seconds, and runs of each mode close together see the same drift.
    rounds: { type: 'string', default: '9' },
    ops: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '64' },
    accounts: { type: 'string', default: '300' },
    tokens: { type: 'string', default: '200' },
  },
});

function positive(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} takes a positive integer`);
  return n;
}

const SETUP = {
  rounds: positive('rounds', args.rounds),
  ops: positive('ops', args.ops),
  concurrency: positive('concurrency', args.concurrency),
  accounts: positive('accounts', args.accounts),
  tokens: positive('tokens', args.tokens),
} as const;

const COMMAND =
  `npm run bench:access -- --rounds ${SETUP.rounds} --ops ${SETUP.ops} ` +
  `--concurrency ${SETUP.concurrency} --accounts ${SETUP.accounts} --tokens ${SETUP.tokens}`;

/** One way of reaching the card routes: a server, and the credential sent to it. */
interface Mode {
  readonly key: 'jwt' | 'apiKey' | 'off';
  readonly label: string;
  readonly url: string;
  /** The `Authorization` value for one load run; none with authentication off. */
  credential(): Promise<string | undefined>;
}

const n0 = (value: number) => Math.round(value).toLocaleString('en-US');
const ms1 = (value: number) => `${value.toFixed(1)} ms`;
const pct = (value: number) => `${(value * 100).toFixed(1)}%`;

/** POSTs `body` with an idempotency key; the created resource's id, or a thrown answer. */
async function create(url: string, authorization: string, body: unknown, key: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`POST ${url}: ${response.status} ${text}`);
  return (JSON.parse(text) as { id: string }).id;
}

/** `count` card accounts with a large credit limit and a card on each; the card ids. */
async function createCards(base: string, authorization: string, count: number) {
  const cardIds: string[] = [];
  let next = 0;
  const worker = async () => {
    for (let n = next++; n < count; n = next++) {
      const accountId = await create(
        `${base}/v1/card-accounts`,
        authorization,
        { currency: 'CNY', creditLimit: CREDIT_LIMIT },
        `bench-access-account-${n}`,
      );
      cardIds.push(
        await create(
          `${base}/v1/card-accounts/${accountId}/cards`,
          authorization,
          CARD_BODY,
          `bench-access-card-${n}`,
        ),
      );
    }
  };
  await Promise.all(Array.from({ length: SEED_PARALLELISM }, worker));
  return cardIds;
}

/** Logins timed for the password figure. */
const PASSWORD_ROUNDS = 20;

/** Milliseconds per argon2id hash and verify with the platform's options; microseconds per digest. */
async function timePasswordHashing(rounds: number) {
  const password = 'a passphrase of ordinary length';
  let started = performance.now();
  let stored = '';
  for (let i = 0; i < rounds; i += 1) stored = await hash(password, PASSWORD_HASH_OPTIONS);
  const hashMs = (performance.now() - started) / rounds;
  started = performance.now();
  for (let i = 0; i < rounds; i += 1) await verify(stored, password);
  const verifyMs = (performance.now() - started) / rounds;
  const digest = secretDigest('x'.repeat(43));
  started = performance.now();
  for (let i = 0; i < 10_000; i += 1) secretMatches('x'.repeat(43), digest);
  const digestUs = ((performance.now() - started) * 1_000) / 10_000;
  return { hashMs, verifyMs, digestUs };
}

/** Times `count` sequential token requests; milliseconds per token (mean, p50, p99). */
async function timeTokenEndpoint(base: string, demo: DemoCredentials, count: number) {
  const latencies = new Float64Array(count);
  const started = performance.now();
  for (let n = 0; n < count; n += 1) {
    const before = performance.now();
    await fetchAccessToken(base, demo);
    latencies[n] = performance.now() - before;
  }
  const meanMs = (performance.now() - started) / count;
  latencies.sort();
  return { meanMs, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) };
}

/** The status of an authorization sent with no credential: 401 where authentication is on. */
async function statusWithoutCredential(base: string, cardId: string): Promise<number> {
  const response = await fetch(`${base}/v1/authorizations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      requestId: `access-probe-${Date.now()}-${base}`,
      cardId,
      amount: 100,
      currency: 'CNY',
      merchant: { id: 'mer_probe', categoryCode: '5411' },
    }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** Checks the modes are what they claim: the platform refuses no credential, the open server not. */
async function checkModes(platformUrl: string, openUrl: string, cardId: string): Promise<void> {
  const on = await statusWithoutCredential(platformUrl, cardId);
  const off = await statusWithoutCredential(openUrl, cardId);
  if (on !== 401 || off !== 201) {
    throw new Error(
      `without a credential: platform ${on} (expected 401), open server ${off} (201)`,
    );
  }
  console.log('without a credential: the platform answers 401, the open server 201');
}

/** The card routes on a server of their own in this process, with no access control. */
async function startOpenServer(platform: Platform): Promise<FastifyInstance> {
  const app = await buildHttpServer({
    source: platform.fleet,
    version: 'bench',
    routes: [
      async (server) => {
        await server.register(async (scope) => platform.modules.get(cardsModule).routes(scope));
      },
    ],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}

function modesOf(platform: Platform, openUrl: string, demo: DemoCredentials): Mode[] {
  return [
    {
      key: 'jwt',
      label: 'on, JWT access token',
      url: platform.url,
      // A fresh token each run: a token lives minutes, and a run pays its one verification.
      credential: async () => bearer(await fetchAccessToken(platform.url, demo)),
    },
    {
      key: 'apiKey',
      label: 'on, API key',
      url: platform.url,
      credential: async () => bearer(demo.apiKey),
    },
    {
      key: 'off',
      label: 'off (no access control)',
      url: openUrl,
      credential: async () => undefined,
    },
  ];
}

/** One run: what the load generator saw, and this process's CPU per request meanwhile. */
interface Sample {
  readonly result: HttpLoadResult;
  /**
   * CPU time (user + system) of this process per request: the API side of the request
   * (HTTP, authentication, stand-in, engine), the database servers aside. Less sensitive to
   * other work on the machine than throughput.
   */
  readonly apiCpuUsPerOp: number;
}

/** One closed-loop run of `ops` authorizations against `mode`. */
async function loadRun(
  mode: Mode,
  cardIds: readonly string[],
  ops: number,
  tag: string,
): Promise<Sample> {
  const authorization = await mode.credential();
  const cpuBefore = process.cpuUsage();
  const result = await runHttpLoad({
    url: `${mode.url}/v1/authorizations`,
    kind: 'authorize',
    concurrency: SETUP.concurrency,
    opCount: ops,
    cardIds,
    runId: `access-${mode.key}-${tag}-${Date.now()}`,
    ...(authorization === undefined ? {} : { authorization }),
  });
  const cpu = process.cpuUsage(cpuBefore);
  assertAuthenticated(`${mode.label}, ${tag}`, result);
  return { result, apiCpuUsPerOp: (cpu.user + cpu.system) / ops };
}

const answersOf = (result: HttpLoadResult) =>
  Object.entries(result.statuses)
    .map(([status, count]) => `${status} ${count}`)
    .join(', ');

type Samples = ReadonlyMap<Mode['key'], readonly Sample[]>;

/** Warms every mode up, then alternates them for the rounds; the samples per mode. */
async function measure(modes: readonly Mode[], cardIds: readonly string[]): Promise<Samples> {
  for (const mode of modes) await loadRun(mode, cardIds, Math.min(WARM_UP_OPS, SETUP.ops), 'warm');
  const samples = new Map<Mode['key'], Sample[]>(modes.map((mode) => [mode.key, []]));
  const rows: string[][] = [];
  for (let round = 0; round < SETUP.rounds; round += 1) {
    // Rotated each round, so no mode always runs first or right after another.
    const order = modes.map((_, i) => modes[(i + round) % modes.length] as Mode);
    for (const mode of order) {
      const sample = await loadRun(mode, cardIds, SETUP.ops, `r${round + 1}`);
      samples.get(mode.key)?.push(sample);
      const { result } = sample;
      rows.push([
        mode.label,
        String(round + 1),
        n0(result.opsPerSecond),
        ms1(result.p50Ms),
        ms1(result.p99Ms),
        `${n0(sample.apiCpuUsPerOp)} us`,
        answersOf(result),
      ]);
      process.stderr.write(`round ${round + 1}, ${mode.label}: ${n0(result.opsPerSecond)}/s\n`);
    }
  }
  printTable(['authentication', 'round', 'req/s', 'p50', 'p99', 'API CPU/req', 'answers'], rows);
  return samples;
}

/** Per-mode medians of one figure of the samples. */
function medianOf(samples: Samples, key: Mode['key'], figure: (sample: Sample) => number) {
  return median((samples.get(key) ?? []).map(figure));
}

const rateOf = (sample: Sample) => sample.result.opsPerSecond;

/** The cost of `key` against authentication off, round by round (adjacent runs), median. */
function pairedCost(samples: Samples, key: Mode['key']): number {
  const off = samples.get('off') ?? [];
  const on = samples.get(key) ?? [];
  return median(on.map((sample, i) => 1 - rateOf(sample) / rateOf(off[i] as Sample)));
}

/** The per-mode medians and their cost against authentication off. */
function printMedians(modes: readonly Mode[], samples: Samples): void {
  const off = medianOf(samples, 'off', rateOf);
  const offCpu = medianOf(samples, 'off', (s) => s.apiCpuUsPerOp);
  console.log(`\nmedian of ${SETUP.rounds} rounds per mode:\n`);
  printTable(
    ['authentication', 'req/s', 'min-max', 'p50', 'p99', 'cost vs off', 'paired', 'API CPU/req'],
    modes.map((mode) => {
      const rates = (samples.get(mode.key) ?? []).map(rateOf);
      const cpu = medianOf(samples, mode.key, (s) => s.apiCpuUsPerOp);
      const on = mode.key !== 'off';
      return [
        mode.label,
        n0(median(rates)),
        `${n0(Math.min(...rates))}-${n0(Math.max(...rates))}`,
        ms1(medianOf(samples, mode.key, (s) => s.result.p50Ms)),
        ms1(medianOf(samples, mode.key, (s) => s.result.p99Ms)),
        on ? pct(1 - median(rates) / off) : '-',
        on ? pct(pairedCost(samples, mode.key)) : '-',
        `${n0(cpu)} us${on ? ` (${cpu >= offCpu ? '+' : ''}${n0(cpu - offCpu)})` : ''}`,
      ];
    }),
  );
  const offRates = (samples.get('off') ?? []).map(rateOf);
  const noise = Math.max(...offRates.map((rate) => Math.abs(rate / off - 1)));
  console.log(
    `\nnoise: the rounds without authentication lie within ${pct(noise)} of their median; ` +
      'a cost well inside that is not resolved by this run',
  );
  console.log(
    'cost vs off: 1 - (median req/s with authentication) / (median req/s without); paired: the ' +
      'median over rounds of the same ratio within each round. Negative: below the noise, which ' +
      'min-max shows. API CPU/req: this process (HTTP, authentication, stand-in, engine)',
  );
}

/** The summary rows: throughput per mode, the cost of authentication against its target. */
function summaryOf(samples: Samples): SummaryRow[] {
  const rate = (key: Mode['key']) => medianOf(samples, key, rateOf);
  const cost = (key: Mode['key']) => 1 - rate(key) / rate('off');
  const info = (figure: string, value: string): SummaryRow => ({
    figure,
    value,
    target: 'none set',
    met: null,
  });
  return [
    info('authorizations/s, authentication off', n0(rate('off'))),
    info('authorizations/s, JWT', n0(rate('jwt'))),
    info('authorizations/s, API key', n0(rate('apiKey'))),
    {
      figure: 'cost of authentication, JWT (of throughput)',
      value: pct(cost('jwt')),
      target: `<= ${pct(JWT_COST_MAX)}`,
      met: cost('jwt') <= JWT_COST_MAX,
    },
    info('cost of authentication, API key (of throughput)', pct(cost('apiKey'))),
    info('cost, JWT, paired within rounds', pct(pairedCost(samples, 'jwt'))),
    info('cost, API key, paired within rounds', pct(pairedCost(samples, 'apiKey'))),
  ];
}

async function run(home: string, holder: { platform?: Platform; open?: FastifyInstance }) {
  const config = loadConfig(
    { cwd: home, env: { MAINSTAY_HOME: home, MAINSTAY_PORT: '0' } },
    CONFIG_SECTIONS,
  );
  let started = performance.now();
  const platform = await startPlatform({ config, modules: MODULES });
  holder.platform = platform;
  const demo = readDemoCredentials(home);
  holder.open = await startOpenServer(platform);
  const openUrl = urlOf(holder.open);
  console.log(`platform up in ${((performance.now() - started) / 1_000).toFixed(1)} s`);
  started = performance.now();
  const token = bearer(await fetchAccessToken(platform.url, demo));
  const cardIds = await createCards(platform.url, token, SETUP.accounts);
  console.log(
    `${cardIds.length} card accounts (credit limit ${n0(CREDIT_LIMIT)}) with a card each, ` +
      `through the API, in ${((performance.now() - started) / 1_000).toFixed(1)} s`,
  );
  await checkModes(platform.url, openUrl, cardIds[0] as string);

  heading(`token endpoint: ${SETUP.tokens} sequential POST /oauth/token`);
  const tokens = await timeTokenEndpoint(platform.url, demo, SETUP.tokens);
  console.log(
    `${tokens.meanMs.toFixed(2)} ms per token (p50 ${ms1(tokens.p50Ms)}, p99 ${ms1(tokens.p99Ms)}): ` +
      'client looked up on its shard, secret checked, JWT signed (Ed25519)',
  );

  heading(
    'password hashing per login (argon2id, the staff and customer cost), beside an API key digest',
  );
  const hashing = await timePasswordHashing(PASSWORD_ROUNDS);
  console.log(
    `argon2id verify ${hashing.verifyMs.toFixed(1)} ms per login, hash ${hashing.hashMs.toFixed(1)} ms ` +
      `(19 MiB, 2 passes, 1 lane; ${PASSWORD_ROUNDS} each); an API key's SHA-256 check ` +
      `${(hashing.digestUs).toFixed(1)} us`,
  );

  heading('POST /v1/authorizations, authentication on and off');
  console.log(
    `${SETUP.concurrency} keep-alive connections from a separate process, ${n0(SETUP.ops)} ` +
      `requests per run, ${SETUP.rounds} rounds, modes rotated each round; ` +
      `${n0(Math.min(WARM_UP_OPS, SETUP.ops))} warm-up requests per mode first, not counted\n`,
  );
  const modes = modesOf(platform, openUrl, demo);
  const samples = await measure(modes, cardIds);
  printMedians(modes, samples);
  return [
    ...summaryOf(samples),
    {
      figure: 'password check per login (argon2id verify)',
      value: `${hashing.verifyMs.toFixed(1)} ms`,
      target: 'none set',
      met: null,
    },
    {
      figure: 'token endpoint, sequential',
      value: `${tokens.meanMs.toFixed(2)} ms/token`,
      target: 'none set',
      met: null,
    },
  ];
}

const started = performance.now();
console.log(`Access benchmark, ${os.cpus().length} cores, Node ${process.version}`);
console.log(`reproduce: ${COMMAND}\n`);
const home = tempHome('bench-access');
const holder: { platform?: Platform; open?: FastifyInstance } = {};
const cleanUp = async () => {
  await holder.open?.close().catch(() => undefined);
  await holder.platform?.stop().catch(() => undefined);
  removeHome(home);
};
// Interrupted: the fleet's servers stop and the temp home goes all the same.
process.once('SIGINT', () => {
  console.log('\ninterrupted: stopping the platform');
  cleanUp().finally(() => process.exit(130));
});
try {
  const summary = await run(home, holder);
  heading('summary');
  printSummary(summary);
  console.log(`\nreproduce: ${COMMAND}`);
} catch (error) {
  console.log(`FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
  console.log(`\ntotal ${((performance.now() - started) / 1_000).toFixed(0)} s`);
}
