/**
 * The `cards.creditLimitApprovalAbove` thresholds: defaults, the file's values as bigint, bad
 * values refused with their place in the file, and which limits need a second person. No
 * database.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../../src/config/load-config.ts';
import type { CardsConfig } from '../../../src/domains/cards/config/cards-config.ts';
import {
  CREDIT_LIMIT_APPROVAL_ABOVE_DEFAULT,
  creditLimitApproval,
  creditLimitNeedsApproval,
} from '../../../src/domains/cards/config/credit-limit-approval.ts';
import { isMainstayError } from '../../../src/errors/mainstay-error.ts';
import { CONFIG_SECTIONS } from '../../../src/modules.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mainstay-credit-limit-'));

function cardsSection(cards: unknown): CardsConfig | undefined {
  const file = path.join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ cards }));
  const config = loadConfig({ cwd: dir, env: { MAINSTAY_CONFIG: file } }, CONFIG_SECTIONS);
  return config.sections.cards as CardsConfig | undefined;
}

describe('credit limit approval threshold', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('left out, the default: 5,000,000 minor units in every currency', () => {
    const policy = creditLimitApproval(cardsSection({}));
    assert.equal(policy.above, CREDIT_LIMIT_APPROVAL_ABOVE_DEFAULT);
    assert.equal(CREDIT_LIMIT_APPROVAL_ABOVE_DEFAULT, 5_000_000n);
    assert.deepEqual(policy.aboveByCurrency, {});
    assert.deepEqual(creditLimitApproval(), policy);
  });

  test('from the file, as bigint; a currency of its own replaces the general threshold', () => {
    const policy = creditLimitApproval(
      cardsSection({
        creditLimitApprovalAbove: 1_000_000,
        creditLimitApprovalAboveByCurrency: { JPY: 3_000_000 },
      }),
    );
    assert.deepEqual(policy, { above: 1_000_000n, aboveByCurrency: { JPY: 3_000_000n } });
    assert.equal(creditLimitNeedsApproval(policy, 'CNY', 1_000_000n), false, 'at is not above');
    assert.equal(creditLimitNeedsApproval(policy, 'CNY', 1_000_001n), true);
    assert.equal(creditLimitNeedsApproval(policy, 'JPY', 2_000_000n), false);
    assert.equal(creditLimitNeedsApproval(policy, 'JPY', 3_000_001n), true);
    assert.equal(creditLimitNeedsApproval(policy, 'USD', 0n), false);
  });

  test('bad thresholds stop the start with config_invalid naming their place', () => {
    const bad: [unknown, string][] = [
      [{ creditLimitApprovalAbove: -1 }, '/cards/creditLimitApprovalAbove'],
      [{ creditLimitApprovalAbove: 1.5 }, '/cards/creditLimitApprovalAbove'],
      [{ creditLimitApprovalAbove: '100' }, '/cards/creditLimitApprovalAbove'],
      [{ creditLimitApprovalAbove: 2 ** 53 }, '/cards/creditLimitApprovalAbove'],
      [
        { creditLimitApprovalAboveByCurrency: { JPY: -5 } },
        '/cards/creditLimitApprovalAboveByCurrency',
      ],
      [
        { creditLimitApprovalAboveByCurrency: { jpy: 5 } },
        '/cards/creditLimitApprovalAboveByCurrency',
      ],
    ];
    for (const [cards, pointer] of bad) {
      assert.throws(
        () => cardsSection(cards),
        (error: unknown) =>
          isMainstayError(error, 'config_invalid') &&
          error.errors.some((e) => e.pointer.startsWith(pointer)),
        JSON.stringify(cards),
      );
    }
  });
});
