import type { Queryable, Router } from '../../../../data/router.ts';
import type { Page, WriteAnswer, WriteContext } from '../../../../data/write-contract.ts';
import { MainstayError } from '../../../../errors/mainstay-error.ts';
import {
  minorUnitsOf,
  readWindowFlow,
  readWindowRow,
  readWindowRows,
  readWindowTransfers,
  type ShardWindowRow,
} from '../store/settlement-store.ts';
import { renderSettlementFile } from './settlement-file.ts';
import {
  compareWindowKeys,
  parseWindowId,
  type SettlementWindow,
  type WindowKey,
  windowIdOf,
} from './settlement-types.ts';
import {
  closeWindow,
  type SettlementReport,
  type SettlementSettings,
  settleWindow,
  type WindowReport,
} from './window-settlement.ts';
import { positionsFrom, type ShardFigures, windowFrom } from './window-view.ts';

export type {
  SettlementReport,
  SettlementSettings,
  ShardSettlement,
  WindowReport,
} from './window-settlement.ts';

/** Windows a list page holds at most. */
export const WINDOWS_PER_PAGE_MAX = 100;

/**
 * Clearing and settlement over every shard (decision 51). A counterparty's window N is one
 * window made of its row on each shard; closing it closes every shard (0004's idempotent close)
 * and then, on the counterparty's home shard and in one transaction, posts the risk reserve
 * (`reserveBasisPoints` of the window's volume, from its settlement accounts to the reserve)
 * and records the close; settling posts, shard by shard, the transfers that take each
 * settlement account's net for the window (less the reserve) to the institution's settlement
 * bank account, by ids derived from the window, and marks that shard settled in the same
 * transaction. Positions and the settlement file are read from the postings, so they are the
 * same whichever process reads them, and fixed once the window is closed.
 *
 * @example
 * const settlement = new SettlementService(router, { reserveBasisPoints: 50,
 *   reserveAccountCode: 'risk-reserve', bankAccountCode: 'settlement-bank' });
 * await settlement.close(windowId, { idempotencyKey: 'close-1' });
 * const csv = await settlement.file(windowId);
 */
export class SettlementService {
  readonly #router: Router;
  readonly #settings: SettlementSettings;

  constructor(router: Router, settings: SettlementSettings) {
    if (
      !Number.isSafeInteger(settings.reserveBasisPoints) ||
      settings.reserveBasisPoints < 0 ||
      settings.reserveBasisPoints > 10_000
    )
      throw new RangeError(
        `reserveBasisPoints must be 0..10000, got ${settings.reserveBasisPoints}`,
      );
    this.#router = router;
    this.#settings = settings;
  }

  /** The settings in force. */
  get settings(): SettlementSettings {
    return this.#settings;
  }

  /**
   * A page of windows, by counterparty (UTF-8 byte order) and newest window first; `counterparty`
   * keeps one counterparty's. `startingAfter` is the last window id of the previous page.
   */
  async list(
    filter: { readonly counterparty?: string },
    page: { readonly limit: number; readonly startingAfter?: string },
  ): Promise<Page<SettlementWindow>> {
    if (!Number.isSafeInteger(page.limit) || page.limit < 1 || page.limit > WINDOWS_PER_PAGE_MAX)
      throw invalid('/limit', `must be 1-${WINDOWS_PER_PAGE_MAX}`);
    const after = page.startingAfter === undefined ? undefined : cursorOf(page.startingAfter);
    const perShard = await this.#eachShardValue((db) =>
      readWindowRows(db, {
        ...(filter.counterparty === undefined ? {} : { counterparty: filter.counterparty }),
        ...(after === undefined ? {} : { after }),
        limit: page.limit + 1,
      }),
    );
    // Each shard answered its first limit + 1 keys: the first limit + 1 of their union are
    // complete (a shard holding one of them holds it within its own first limit + 1).
    const byId = new Map<string, { key: WindowKey; rows: ShardWindowRow[] }>();
    for (const row of perShard.flat()) {
      const id = windowIdOf(row);
      const found = byId.get(id);
      if (found === undefined) byId.set(id, { key: row, rows: [row] });
      else found.rows.push(row);
    }
    const keys = [...byId.values()].sort((a, b) => compareWindowKeys(a.key, b.key));
    const windows = keys.slice(0, page.limit).map(({ key, rows }) => windowFrom(key, rows));
    const hasMore = keys.length > page.limit;
    const last = windows.at(-1);
    return { data: windows, hasMore, nextCursor: hasMore && last ? last.id : null };
  }

  /** One window across every shard (`resource_not_found` when no shard has it). */
  async window(id: string): Promise<SettlementWindow> {
    const key = parseWindowId(id);
    return windowFrom(key, await this.#rowsOf(key));
  }

  /** The window and its net positions per currency, summed over every shard. */
  async positions(id: string): Promise<WindowReport> {
    const key = parseWindowId(id);
    const window = windowFrom(key, await this.#rowsOf(key));
    return { window, positions: positionsFrom(await this.#figures(key)) };
  }

  /**
   * The settlement file of a closed window (CSV, see `renderSettlementFile`): the same bytes on
   * every call, since a closed window's flow and reserve never change. `state_conflict` while
   * the window is open.
   */
  async file(id: string): Promise<{ readonly name: string; readonly text: string }> {
    const { window, positions } = await this.positions(id);
    if (window.state === 'open')
      throw new MainstayError(
        'state_conflict',
        `settlement window ${id} is open: close it first (a close cut short is finished by repeating it)`,
      );
    const { value: minorUnits } = await this.#router.readShard(
      this.#homeShard(window.counterparty),
      (db) =>
        minorUnitsOf(
          db,
          positions.map((position) => position.currency),
        ),
      { consistency: 'primary' },
    );
    return {
      name: `settlement-${window.id}.csv`,
      text: renderSettlementFile(window, positions, minorUnits),
    };
  }

  /**
   * Closes window `id` on every shard, then posts its reserve and records the close on the
   * home shard (see the class). Idempotent: a repeat (any key) changes nothing and answers the
   * window; the same key answers its first answer, `replayed`.
   */
  async close(id: string, context: WriteContext): Promise<WriteAnswer<WindowReport>> {
    const key = parseWindowId(id);
    return closeWindow(this.#deps(), key, context);
  }

  /**
   * Settles closed window `id`: shard by shard, the settlement transfers and the shard's mark
   * in one transaction (a shard already settled is left as it is). A shard whose transfers are
   * refused stays unsettled, with its refusals in the answer (`status: refused`), and nothing
   * of it is written; the window is then `pending_settlement` until a repeat settles it.
   * `state_conflict` for a window whose close has not completed.
   */
  async settle(id: string, context: WriteContext): Promise<WriteAnswer<SettlementReport>> {
    const key = parseWindowId(id);
    return settleWindow(this.#deps(), key, context);
  }

  #deps() {
    return {
      router: this.#router,
      settings: this.#settings,
      homeShard: (counterparty: string) => this.#homeShard(counterparty),
      homeKey: homeKeyOf,
      rowsByShard: async (key: WindowKey) =>
        (await this.#eachShard((db) => readWindowRow(db, key))).map(({ shardId, value }) => ({
          shardId,
          row: value,
        })),
      figures: (key: WindowKey) => this.#figures(key),
    };
  }

  /** The window's row on each shard that has it; `resource_not_found` when none has. */
  async #rowsOf(key: WindowKey): Promise<ShardWindowRow[]> {
    const rows = (await this.#eachShardValue((db) => readWindowRow(db, key))).filter(
      (row): row is ShardWindowRow => row !== null,
    );
    if (rows.length === 0)
      throw new MainstayError(
        'resource_not_found',
        `there is no settlement window ${windowIdOf(key)}`,
      );
    return rows;
  }

  /** The window's flow and the settlement flow's own transfers, on every shard. */
  async #figures(key: WindowKey): Promise<(ShardFigures & { shardId: number })[]> {
    const figures = await this.#eachShard(async (db) => ({
      flows: await readWindowFlow(db, key),
      transfers: await readWindowTransfers(db, key),
    }));
    return figures.map(({ shardId, value }) => ({ shardId, ...value }));
  }

  #homeShard(counterparty: string): number {
    return this.#router.map.shardOf(homeKeyOf(counterparty));
  }

  /** `read` on every shard's primary, in shard order, with the shard of each answer. */
  async #eachShard<T>(read: (db: Queryable) => Promise<T>) {
    return Promise.all(
      this.#router.map.shardIds.map(async (shardId) => ({
        shardId,
        value: (await this.#router.readShard(shardId, read, { consistency: 'primary' })).value,
      })),
    );
  }

  /** {@link SettlementService.#eachShard}'s answers alone. */
  async #eachShardValue<T>(read: (db: Queryable) => Promise<T>): Promise<T[]> {
    return (await this.#eachShard(read)).map(({ value }) => value);
  }
}

/** The shard key of a counterparty's home: where its close records and reserve live. */
function homeKeyOf(counterparty: string): string {
  return `ledger_window:${counterparty}`;
}

function cursorOf(cursor: string): WindowKey {
  try {
    return parseWindowId(cursor);
  } catch {
    throw invalid('/startingAfter', 'must be a cursor from a page');
  }
}

function invalid(pointer: string, detail: string): MainstayError {
  return new MainstayError('invalid_request', `${pointer.slice(1)} ${detail}`, {
    errors: [{ pointer, detail }],
  });
}
