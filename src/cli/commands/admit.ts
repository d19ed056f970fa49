import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AdmissionRecord } from '../../domains/admission/index.ts';
import { runningPlatform } from '../operator-credential.ts';
import { renderTable } from '../status-table.ts';

/** How long the command waits for a decision: the gate reads every server's statistics. */
export const ADMIT_REQUEST_TIMEOUT_MS = 60_000;

interface Problem {
  readonly code?: string;
  readonly detail?: string;
  readonly errors?: readonly { readonly pointer: string; readonly detail: string }[];
}

/**
 * `mainstay admit <file.json|-> [--json] [--idempotency-key K]`: sends a change request to the
 * running platform's admission gate (decision 55) and prints its decision: the review, the
 * level-1 triggers, and each data pattern with its findings. A retry with the same key answers
 * the first decision; without one, each run is a new request. Exits 1 when the request is
 * refused (the problem's code and each field error on stderr).
 */
export async function admitCommand(
  file: string,
  options: { json?: boolean; idempotencyKey?: string },
): Promise<number> {
  const platform = runningPlatform('admission:manage');
  if (typeof platform === 'number') return platform;
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  const response = await fetch(`${platform.url}/v1/admission/requests`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${platform.credential}`,
      'idempotency-key': options.idempotencyKey ?? `admit-${randomUUID()}`,
    },
    body: text,
    signal: AbortSignal.timeout(ADMIT_REQUEST_TIMEOUT_MS),
  });
  const body = (await response.json()) as AdmissionRecord & Problem;
  if (!response.ok) {
    const fields = (body.errors ?? []).map((error) => `\n  ${error.pointer}: ${error.detail}`);
    process.stderr.write(
      `mainstay: error [${body.code ?? response.status}]: ${body.detail}${fields.join('')}\n`,
    );
    return 1;
  }
  process.stdout.write(options.json ? `${JSON.stringify(body, null, 2)}\n` : renderDecision(body));
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Characters of a reason on one line of the table; longer reasons go on over more lines. */
const REASON_WIDTH = 88;

/** `text` cut at spaces into lines of at most `width` characters (a longer word stays whole). */
function wrapped(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}

/** The decision for people: the review, the triggers, then one row per finding. */
export function renderDecision(record: AdmissionRecord): string {
  const { decision, request } = record;
  const triggers = renderTable(
    ['TRIGGER', 'MET', 'REASON'],
    decision.triggers.map((t) => [t.trigger, t.met ? 'yes' : 'no', t.reason]),
  );
  const patterns = renderTable(
    ['PATTERN', 'STATUS', 'SUBJECT', 'REASON'],
    decision.patterns.flatMap((pattern) =>
      pattern.findings.flatMap((finding, index) =>
        wrapped(finding.reason, REASON_WIDTH).map((line, lineIndex) =>
          lineIndex === 0
            ? [
                index === 0 ? pattern.pattern : '',
                finding.status,
                finding.subject ?? '(the change)',
                line,
              ]
            : ['', '', '', line],
        ),
      ),
    ),
  );
  const unreachable = decision.measured.serversUnreachable;
  return [
    `${record.id}  ${request.title} (${request.system}), decided ${record.createdAt}`,
    `review ${decision.reviewRequired ? 'REQUIRED' : 'not required'}: ${decision.reviewReason}`,
    '',
    triggers,
    '',
    patterns,
    '',
    `measured at ${decision.measured.takenAt} on ${decision.measured.serversRead.join(', ')}` +
      (unreachable.length > 0 ? `; not reached: ${unreachable.join(', ')}` : ''),
    '',
  ].join('\n');
}
