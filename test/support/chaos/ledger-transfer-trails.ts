/**
 * What the ledger's clients of a fault run sent and were told: every transfer request by its
 * client id with every 2xx outcome it got (first tries, retries after a lost answer, repeats on
 * purpose), and the calls of bad input with their answers. The checks after recovery compare
 * the shards' books with this record, never with what the fleet says of itself.
 */

/** Outcomes that applied a request: a client told one of them must find it in the books. */
export const APPLIED_TOLD = ['posted', 'pending', 'voided'] as const;

/** One outcome a client was told for a request id. */
export interface TransferAnswer {
  readonly status: string;
  readonly amount: number;
  readonly replayed: boolean;
  readonly process: string;
}

/** A request as sent, and every 2xx outcome it got. */
export interface TransferTrail {
  readonly id: string;
  readonly kind: 'transfer' | 'pending' | 'post' | 'void';
  /** An account of the request's shard. */
  readonly shardKey: string;
  /** The amount sent (`null`: a void, or a post of the whole). */
  readonly amount: number | null;
  readonly answers: TransferAnswer[];
}

/** A call of bad input (bytes that are not UTF-8, U+0000): every answer it got, by status. */
export interface RefusedCall {
  readonly what: string;
  /** The ids its requests carried: none may be in the books. */
  readonly ids: readonly string[];
  readonly shardKey: string;
  readonly answers: { readonly status: number; readonly code: string | null }[];
}

/** A pending transfer a client was told of, not yet posted or voided by the load. */
export interface OpenPending {
  readonly id: string;
  readonly shardKey: string;
  readonly amount: number;
}

/** Everything the ledger's clients saw in one run. */
export class TransferRecord {
  readonly trails = new Map<string, TransferTrail>();
  readonly refusedCalls: RefusedCall[] = [];
  readonly openPendings: OpenPending[] = [];
  /** Guarded customer accounts (never below zero), by id. */
  readonly guarded: string[] = [];
  /** Calls sent again on purpose after their answer, with the same ids. */
  repeats = 0;

  /** Starts (or returns) the trail of a request. */
  trail(request: Omit<TransferTrail, 'answers'>): TransferTrail {
    const known = this.trails.get(request.id);
    if (known) return known;
    const trail: TransferTrail = { ...request, answers: [] };
    this.trails.set(request.id, trail);
    return trail;
  }

  /** Trails told an applied outcome at least once. */
  acknowledged(): TransferTrail[] {
    return [...this.trails.values()].filter((trail) =>
      trail.answers.some((answer) => isAppliedTold(answer.status)),
    );
  }

  /** Figures for the report's load section. */
  figures(): Record<string, number> {
    const figures: Record<string, number> = {};
    for (const trail of this.trails.values()) {
      const first = trail.answers[0];
      const key = `ledger ${trail.kind} ${first ? first.status : 'never answered'}`;
      figures[key] = (figures[key] ?? 0) + 1;
    }
    figures['ledger calls repeated on purpose'] = this.repeats;
    figures['ledger calls of bad input'] = this.refusedCalls.length;
    return figures;
  }
}

/** Whether a told status applied the request. */
export function isAppliedTold(status: string): boolean {
  return (APPLIED_TOLD as readonly string[]).includes(status);
}
