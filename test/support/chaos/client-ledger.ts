/**
 * What the clients of a fault run saw: every answer to every request, kept so that the checks
 * after recovery compare the books with what clients were told, not with what the fleet says of
 * itself.
 */

/** The operations of the mixed load, in report order. */
export const OPERATIONS = ['authorize', 'capture', 'reversal', 'bind', 'list', 'transfer'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** One logical operation: first try to the first definite answer, across retries. */
export interface OperationRecord {
  readonly op: Operation;
  readonly startedAt: number;
  /** When the last attempt ended (a definite answer, or giving up). */
  endedAt: number;
  /** A definite answer came (2xx or 4xx); `false`: every attempt failed or timed out. */
  answered: boolean;
  attempts: number;
  /** Status 0/5xx answers by code, for the report. */
  readonly failures: Map<string, number>;
}

/** An answer a client received for an authorization request id. */
export interface DecisionSeen {
  readonly id: string;
  readonly status: string;
  readonly decidedBy: string;
  readonly process: string;
}

/** An authorization request and every 2xx answer it got, first tries and retries alike. */
export interface AuthorizationTrail {
  readonly requestId: string;
  readonly cardId: string;
  readonly accountId: string;
  readonly amount: number;
  readonly answers: DecisionSeen[];
}

/** The largest captured and reversed amounts acknowledged for one authorization id. */
export interface HoldAcks {
  captured: number;
  reversed: number;
  /** The hold as the last 2xx answer left it, for the next capture or reversal. */
  held: number;
  open: boolean;
}

export interface BindAck {
  readonly userId: string;
  readonly boundCardId: string;
}

/** Everything the clients saw in one run. */
export class ClientLedger {
  readonly operations: OperationRecord[] = [];
  readonly authorizations = new Map<string, AuthorizationTrail>();
  /** Per authorization id given to a client: what captures and reversals acknowledged. */
  readonly holds = new Map<string, HoldAcks>();
  /** Capture or reversal answers naming another authorization than the one asked for. */
  readonly holdIdMismatches: string[] = [];
  /** Capture or reversal of an id a client was given, answered 404. */
  readonly holdUnknownIds: string[] = [];
  readonly binds: BindAck[] = [];
  listCount = 0;
  /** Lists, through the other process right after a bind without a token, missing that card. */
  readonly staleLists: string[] = [];

  begin(op: Operation): OperationRecord {
    const now = Date.now();
    const record: OperationRecord = {
      op,
      startedAt: now,
      endedAt: now,
      answered: false,
      attempts: 0,
      failures: new Map(),
    };
    this.operations.push(record);
    return record;
  }

  /** Records a 2xx authorization answer under its request id. */
  decision(trail: AuthorizationTrail, body: Record<string, unknown>, process: string): void {
    const seen: DecisionSeen = {
      id: String(body.id),
      status: String(body.status),
      decidedBy: String(body.decidedBy),
      process,
    };
    trail.answers.push(seen);
    this.noteHold(seen.id, body);
  }

  /** Keeps the largest acknowledged captured and reversed amounts of an authorization. */
  noteHold(id: string, body: Record<string, unknown>): void {
    const acks = this.holds.get(id) ?? { captured: 0, reversed: 0, held: 0, open: false };
    acks.captured = Math.max(acks.captured, Number(body.capturedAmount ?? 0));
    acks.reversed = Math.max(acks.reversed, Number(body.reversedAmount ?? 0));
    acks.held = Number(body.heldAmount ?? 0);
    acks.open = body.holdState === 'open' && acks.held > 0;
    this.holds.set(id, acks);
  }

  /** Ids of approved authorizations whose hold a client believes is open. */
  openHolds(): string[] {
    const ids: string[] = [];
    for (const [id, acks] of this.holds) if (acks.open) ids.push(id);
    return ids;
  }
}
