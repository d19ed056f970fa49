import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { HttpLoadPlan, HttpLoadResult } from '../support/http-load-child.ts';

const CHILD = new URL('../support/http-load-child.ts', import.meta.url).pathname;

/** Runs the HTTP load generator in its own process and returns what it measured. */
export async function runHttpLoad(plan: HttpLoadPlan): Promise<HttpLoadResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mainstay-load-'));
  const planPath = path.join(dir, 'plan.json');
  writeFileSync(planPath, JSON.stringify(plan));
  try {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, planPath], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve(stdout) : reject(new Error(`load generator failed: ${stderr}`)),
      );
    });
    return JSON.parse(output.trim().split('\n').pop() ?? '{}') as HttpLoadResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The address a listening Fastify server answers on. */
export function urlOf(app: FastifyInstance): string {
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('the server is not listening');
  return `http://127.0.0.1:${address.port}`;
}
