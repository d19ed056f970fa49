/**
 * An HTTP load generator run in its own process, so the server under test does not share its
 * event loop with the client: a closed loop of `concurrency` keep-alive connections, each
 * sending its next request when the last answer arrived. Reads a JSON plan from the file named
 * in argv[2]; prints one JSON line of results to stdout.
 *
 *   node --import tsx bench/support/http-load-child.ts plan.json
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { quantile } from './closed-loop.ts';
import { ZipfSampler } from './zipf.ts';

/**
 * What to send: Double-11 authorization bodies over Zipf-popular cards, to `url` (the real
 * route, or a no-op route that validates the same body). `kind` says how answers are counted.
 */
export interface HttpLoadPlan {
  readonly url: string;
  readonly kind: 'noop' | 'authorize';
  readonly concurrency: number;
  readonly opCount: number;
  readonly cardIds?: readonly string[];
  readonly zipfS?: number;
  /** Share of authorizations at the one hot merchant. */
  readonly hotMerchantShare?: number;
  /** Prefix of request ids, unique per run so runs never replay each other. */
  readonly runId: string;
  /**
   * The `Authorization` header value sent on every request (`Bearer <access token or API
   * key>`); none when omitted, for a server that checks no credentials.
   */
  readonly authorization?: string;
}

export interface HttpLoadResult {
  readonly opCount: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly statuses: Record<string, number>;
  readonly httpErrors: number;
  /** This load generator's own CPU time (user + system) per request, while it sent them. */
  readonly cpuUsPerOp: number;
}

function bodyFor(plan: HttpLoadPlan, zipf: ZipfSampler, n: number): string {
  const cards = plan.cardIds ?? [];
  const hot = zipf.uniform() < (plan.hotMerchantShare ?? 0.3);
  return JSON.stringify({
    requestId: `${plan.runId}-${n}`,
    cardId: cards[zipf.next() % cards.length],
    amount: 100 + (n % 9_900),
    currency: 'CNY',
    merchant: hot
      ? { id: 'mer_hot_tmall', categoryCode: '5311' }
      : { id: `mer_${n % 500}`, categoryCode: n % 2 === 0 ? '5411' : '5812' },
  });
}

function send(
  agent: http.Agent,
  url: URL,
  body: string,
  authorization: string | undefined,
): Promise<{ statusCode: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(authorization === undefined ? {} : { authorization }),
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => resolve({ statusCode: response.statusCode ?? 0, text }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function run(plan: HttpLoadPlan): Promise<HttpLoadResult> {
  const url = new URL(plan.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: plan.concurrency });
  const zipf = new ZipfSampler(Math.max(1, plan.cardIds?.length ?? 1), plan.zipfS ?? 1.0, 7);
  const latencies = new Float64Array(plan.opCount);
  const statuses: Record<string, number> = {};
  let httpErrors = 0;
  let next = 0;
  const client = async () => {
    for (let n = next++; n < plan.opCount; n = next++) {
      const body = bodyFor(plan, zipf, n);
      const started = performance.now();
      const answer = await send(agent, url, body, plan.authorization);
      latencies[n] = performance.now() - started;
      if (answer.statusCode >= 400) httpErrors += 1;
      const status =
        plan.kind === 'authorize' && answer.statusCode < 400
          ? String((JSON.parse(answer.text) as { status?: string }).status)
          : String(answer.statusCode);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(Array.from({ length: plan.concurrency }, client));
  const cpu = process.cpuUsage(cpuBefore);
  const elapsedMs = performance.now() - started;
  agent.destroy();
  latencies.sort();
  return {
    opCount: plan.opCount,
    opsPerSecond: (plan.opCount / elapsedMs) * 1_000,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    statuses,
    httpErrors,
    cpuUsPerOp: (cpu.user + cpu.system) / plan.opCount,
  };
}

const planPath = process.argv[2];
if (planPath) {
  const plan = JSON.parse(readFileSync(planPath, 'utf8')) as HttpLoadPlan;
  run(plan).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
