import { MainstayError } from '../errors/mainstay-error.ts';

/** One planned fleet operation in progress: what it is and the servers it stops or changes. */
export interface PlannedOperation {
  readonly name: string;
  readonly servers: ReadonlySet<string>;
  readonly startedAt: number;
}

/**
 * The planned operations (a switchover, a replica rebuild) running in this process. The
 * failover controller leaves their servers alone: a server stopped on purpose is not a failed
 * one, and repairing it meanwhile would race the operation. One operation at a time per fleet,
 * so two never stop servers under each other.
 */
export class PlannedOperations {
  #current: PlannedOperation | null = null;

  /** The operation in progress, if any. */
  get current(): PlannedOperation | null {
    return this.#current;
  }

  /** Whether a planned operation covers `serverId` now. */
  covers(serverId: string): boolean {
    return this.#current?.servers.has(serverId) ?? false;
  }

  /**
   * Registers an operation; throws `operation_in_progress` while another runs. Returns the
   * function that ends it (call it in a `finally`).
   */
  begin(name: string, servers: Iterable<string>): () => void {
    if (this.#current) {
      throw new MainstayError(
        'operation_in_progress',
        `${this.#current.name} is in progress (since ${new Date(this.#current.startedAt).toISOString()}); ${name} must wait for it`,
      );
    }
    const operation = { name, servers: new Set(servers), startedAt: Date.now() };
    this.#current = operation;
    return () => {
      if (this.#current === operation) this.#current = null;
    };
  }
}
