/**
 * The admission rules as a pure function (decision 55): each threshold on both sides of its
 * bound, the reasons citing the figures, and the change request's own checks. The platform test
 * (admission-api.test.ts) measures real traffic; this one pins the rules' edges.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideAdmission } from '../../../src/domains/admission/core/admission-decision.ts';
import { ADMISSION_THRESHOLDS_DEFAULT } from '../../../src/domains/admission/core/admission-thresholds.ts';
import { checkChangeRequest } from '../../../src/domains/admission/core/change-request.ts';
import {
  type FleetStatistics,
  type TableFigures,
  withHistory,
} from '../../../src/domains/admission/core/fleet-statistics.ts';
import { isMainstayError } from '../../../src/errors/mainstay-error.ts';

const GIB = 1024 ** 3;

function figures(table: string, fields: Partial<TableFigures>): TableFigures {
  return {
    table,
    rowsRead: 0,
    rowsReadOnReplicas: 0,
    rowsWritten: 0,
    bytes: 8192,
    largestShardBytes: 8192,
    liveRows: 0,
    shards: 4,
    growthBytesPerDay: null,
    growthSince: null,
    window: null,
    ...fields,
  };
}

function fleet(tables: TableFigures[]): FleetStatistics {
  return {
    takenAt: '2026-01-02T00:00:00.000Z',
    tables,
    replication: [
      { server: 'dc1-a', standby: 'dc1_b', kind: 'physical', lagBytes: 128, replayLagMs: 3 },
      { server: 'dc1-a', standby: 'shard_0_copy', kind: 'logical', lagBytes: 4096, replayLagMs: 9 },
    ],
    serversRead: ['dc1-a', 'dc1-b'],
    serversUnreachable: [],
  };
}

const BASE = {
  title: 'Orders service',
  system: 'orders',
  triggers: ['new_system'],
  tables: [{ name: 'orders' }],
  availability: { rtoSeconds: 3600, rpoSeconds: 60, moneyPath: false },
};

function decide(request: unknown, tables: TableFigures[]) {
  return decideAdmission(checkChangeRequest(request), fleet(tables), ADMISSION_THRESHOLDS_DEFAULT);
}

function patternOf(decision: ReturnType<typeof decide>, name: string) {
  const found = decision.patterns.find((pattern) => pattern.pattern === name);
  assert.ok(found, name);
  return found;
}

describe('read/write splitting', () => {
  test('required above 4:1 measured, with the figures; not at 4:1 exactly', () => {
    const above = decide(BASE, [
      figures('public.orders', { rowsRead: 12_300, rowsReadOnReplicas: 6_000, rowsWritten: 1_000 }),
    ]);
    const split = patternOf(above, 'read_write_splitting');
    assert.equal(split.status, 'required');
    assert.match(
      split.findings[0]?.reason ?? '',
      /^public\.orders: 12\.3 reads per write measured over 12,300 rows read \(6,000 of them on replicas\) and 1,000 rows written since the servers' statistics were last reset, above 4:1; replicas lag up to 3 ms/,
    );
    const at = decide(BASE, [figures('public.orders', { rowsRead: 4_000, rowsWritten: 1_000 })]);
    assert.equal(patternOf(at, 'read_write_splitting').status, 'not_required');
    assert.match(
      patternOf(at, 'read_write_splitting').findings[0]?.reason ?? '',
      /4\.0 reads per write .* at or below 4:1/,
    );
  });

  test('too little traffic measured: a stated ratio only recommends, no figures decide nothing', () => {
    const little = [figures('public.orders', { rowsRead: 900, rowsWritten: 10 })];
    const stated = decide(
      {
        ...BASE,
        tables: [{ name: 'orders', expectedReadsPerSecond: 500, expectedWritesPerSecond: 20 }],
      },
      little,
    );
    const split = patternOf(stated, 'read_write_splitting');
    assert.equal(split.status, 'recommended');
    assert.match(split.findings[0]?.reason ?? '', /25\.0 reads per write stated .* only 910 rows/);
    const none = patternOf(decide(BASE, little), 'read_write_splitting');
    assert.equal(none.status, 'not_required');
    assert.match(none.findings[0]?.reason ?? '', /no read and write rates stated/);
  });
});

describe('sharding', () => {
  test('from measured size and growth, and from stated rows; skew named', () => {
    const growing = figures('public.orders', {
      bytes: 40 * GIB,
      largestShardBytes: 30 * GIB,
      growthBytesPerDay: 0.2 * GIB,
      growthSince: '2026-01-01T00:00:00.000Z',
    });
    const sharding = patternOf(decide(BASE, [growing]), 'sharding');
    assert.equal(sharding.status, 'required');
    assert.match(
      sharding.findings[0]?.reason ?? '',
      /projected to 113\.0 GiB in 365 days, above the 100\.0 GiB/,
    );
    assert.match(sharding.findings[0]?.reason ?? '', /one shard holds 30\.0 GiB of it/);
    const stated = decide(
      {
        ...BASE,
        tables: [
          {
            name: 'new_ledger',
            expectedRows: 1_000_000,
            rowBytes: 200,
            growthRowsPerDay: 1_000_000,
          },
        ],
      },
      [],
    );
    assert.equal(patternOf(stated, 'sharding').status, 'recommended');
    const writes = decide(
      { ...BASE, tables: [{ name: 'orders', expectedWritesPerSecond: 5_000 }] },
      [],
    );
    assert.equal(patternOf(writes, 'sharding').status, 'required');
  });

  test('growth and the traffic window are measured between samples; a reset leaves no window', () => {
    const sample = {
      table: 'public.orders',
      takenAt: '2026-01-01T12:00:00.000Z',
      bytes: 1_000,
      rowsRead: 500,
      rowsReadOnReplicas: 200,
      rowsWritten: 100,
    };
    const now = { bytes: 3_000, rowsRead: 9_500, rowsReadOnReplicas: 4_200, rowsWritten: 1_100 };
    const [grown] = withHistory(
      [figures('public.orders', now)],
      [sample],
      '2026-01-02T00:00:00.000Z',
    );
    assert.equal(grown?.growthBytesPerDay, 4_000);
    assert.equal(grown?.growthSince, '2026-01-01T12:00:00.000Z');
    assert.deepEqual(grown?.window, {
      since: '2026-01-01T12:00:00.000Z',
      rowsRead: 9_000,
      rowsReadOnReplicas: 4_000,
      rowsWritten: 1_000,
    });
    const reset = { ...now, rowsReadOnReplicas: 100 };
    const [after] = withHistory(
      [figures('public.orders', reset)],
      [sample],
      '2026-01-02T00:00:00.000Z',
    );
    assert.equal(after?.window, null);
  });

  test('the window decides the ratio when it holds enough rows; else the whole life does', () => {
    // A table read 10:1 over its life, but only written in the last hour.
    const life = { rowsRead: 100_000, rowsReadOnReplicas: 50_000, rowsWritten: 10_000 };
    const window = {
      since: '2026-01-01T23:00:00.000Z',
      rowsRead: 0,
      rowsReadOnReplicas: 0,
      rowsWritten: 5_000,
    };
    const recent = patternOf(
      decide(BASE, [figures('public.orders', { ...life, window })]),
      'read_write_splitting',
    );
    assert.equal(recent.status, 'not_required');
    assert.match(
      recent.findings[0]?.reason ?? '',
      /reads and no writes|0\.0 reads per write .* since 2026-01-01T23:00:00\.000Z, at or below/,
    );
    const thin = { ...window, rowsWritten: 10 };
    const whole = patternOf(
      decide(BASE, [figures('public.orders', { ...life, window: thin })]),
      'read_write_splitting',
    );
    assert.equal(whole.status, 'required');
    assert.match(
      whole.findings[0]?.reason ?? '',
      /10\.0 reads per write .* since the servers' statistics were last reset, above 4:1/,
    );
  });
});

describe('availability and services', () => {
  test('a money path needs active-active and, below 30 s of RTO, a bypass', () => {
    const money = decide(
      { ...BASE, availability: { rtoSeconds: 10, rpoSeconds: 0, moneyPath: true } },
      [],
    );
    assert.equal(patternOf(money, 'active_active').status, 'required');
    assert.match(
      patternOf(money, 'active_active').findings[0]?.reason ?? '',
      /RPO 0: .* lag up to 4\.0 KiB/,
    );
    assert.equal(patternOf(money, 'bypass').status, 'required');
    const slow = decide(
      { ...BASE, availability: { rtoSeconds: 60, rpoSeconds: 0, moneyPath: true } },
      [],
    );
    assert.equal(patternOf(slow, 'bypass').status, 'recommended');
    const plain = decide(BASE, []);
    assert.equal(patternOf(plain, 'active_active').status, 'not_required');
    assert.equal(patternOf(plain, 'bypass').status, 'not_required');
  });

  test('each service must be stateless and redundant; the reason says what is missing', () => {
    const decision = decide(
      {
        ...BASE,
        services: [
          { name: 'orders-api', instancesPerDataCentre: 3, keepsLocalState: false },
          { name: 'orders-batch', instancesPerDataCentre: 1, keepsLocalState: true },
        ],
      },
      [],
    );
    const [good, bad] = patternOf(decision, 'stateless_redundancy').findings;
    assert.match(good?.reason ?? '', /met by the stated design/);
    assert.match(
      bad?.reason ?? '',
      /keeps local state.*and runs 1 instances per data centre, fewer than 2/,
    );
  });
});

describe('level-1 triggers and the request', () => {
  test('no trigger: no review, and a reason for every trigger not met', () => {
    const decision = decide({ ...BASE, triggers: [] }, []);
    assert.equal(decision.reviewRequired, false);
    assert.match(decision.reviewReason, /no level-1 trigger is stated/);
    assert.equal(decision.triggers.length, 6);
    for (const trigger of decision.triggers) {
      assert.equal(trigger.met, false);
      assert.match(trigger.reason, /^not stated: /);
    }
  });

  test('malformed, contradictory and unstorable requests are refused with pointers', () => {
    const refused = (input: unknown, code: string, pointer: string) => {
      assert.throws(
        () => checkChangeRequest(input),
        (error) =>
          isMainstayError(error) &&
          error.code === code &&
          error.errors.some((field) => field.pointer === pointer),
      );
    };
    refused({ ...BASE, availability: undefined }, 'invalid_request', '/availability');
    refused({ ...BASE, triggers: ['new_logo'] }, 'invalid_request', '/triggers/0');
    refused({ ...BASE, title: 'a\u0000b' }, 'invalid_request', '/title');
    refused({ ...BASE, system: 'orders', title: '\ud800' }, 'invalid_request', '/title');
    refused(
      { ...BASE, tables: [{ name: 'orders' }, { name: 'public.orders' }] },
      'change_request_invalid',
      '/tables/1/name',
    );
    refused(
      { ...BASE, tables: [{ name: 'orders', expectedRows: 10 }] },
      'change_request_invalid',
      '/tables/0/rowBytes',
    );
    refused(
      { ...BASE, availability: { rtoSeconds: 60, rpoSeconds: 600, moneyPath: false } },
      'change_request_invalid',
      '/availability/rpoSeconds',
    );
  });
});
