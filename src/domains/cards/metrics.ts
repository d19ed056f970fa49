import type { Counter, Gauge } from 'prom-client';
import type { MetricFactory } from '../../platform/domain-module.ts';
import { DIVERSION_REASONS } from './core/stand-in/overload-diversion.ts';
import type { CardServices } from './services.ts';

/**
 * The card services' metrics: the engine's batches (how well group commit gathers requests), the
 * share of stand-in decisions and why, the advice backlog and the stand-in exposure. Read at
 * scrape time like every Mainstay metric.
 */
export function registerCardMetrics(
  counter: MetricFactory<Counter>,
  gauge: MetricFactory<Gauge>,
  cards: CardServices,
): void {
  registerDecisionMetrics(counter, gauge, cards);
  registerDiversionMetrics(counter, gauge, cards);
  registerRegistryMetrics(counter, gauge, cards);
  registerEngineMetrics(counter, gauge, cards);
}

/** Decisions by issuer and stand-in, why stand-in, and the advices waiting and forwarded. */
function registerDecisionMetrics(
  counter: MetricFactory<Counter>,
  gauge: MetricFactory<Gauge>,
  cards: CardServices,
): void {
  counter(
    'mainstay_card_authorizations_total',
    'Authorization decisions, by who decided (issuer engine or stand-in).',
    ['decided_by'],
    (m) => {
      const stats = cards.standIn.stats();
      m.inc({ decided_by: 'issuer' }, stats.issuerDecisions);
      m.inc({ decided_by: 'stand_in' }, stats.standInDecisions);
    },
  );
  counter(
    'mainstay_card_authorization_answers_total',
    'Authorization answers this process gave (replays excluded), by status: approved or the decline reason.',
    ['status'],
    (m) => {
      for (const [status, count] of Object.entries(cards.standIn.stats().authorizationsByStatus))
        m.inc({ status }, count);
    },
  );
  counter(
    'mainstay_card_stand_in_decisions_total',
    'Stand-in decisions, by what sent the request to stand-in.',
    ['trigger'],
    (m) => {
      for (const [trigger, count] of Object.entries(cards.standIn.stats().standInByTrigger))
        m.inc({ trigger }, count);
    },
  );
  gauge(
    'mainstay_card_stand_in_share',
    'Stand-in decisions over all authorization decisions of this process.',
    [],
    (m) => m.set(cards.standIn.stats().standInShare),
  );
  gauge(
    'mainstay_card_stand_in_advices_pending',
    'Stand-in advices waiting to be forwarded to the issuer, per shard.',
    ['shard'],
    (m) => {
      for (const [shard, count] of Object.entries(cards.standIn.stats().pendingAdvices))
        m.set({ shard }, count);
    },
  );
  counter(
    'mainstay_card_stand_in_advices_forwarded_total',
    'Advices forwarded and reconciled by this process, by result.',
    ['result'],
    (m) => {
      for (const [result, count] of Object.entries(cards.standIn.stats().forwardedByResult))
        m.inc({ result }, count);
    },
  );
}

/** Quarantined advices, exposure, and why and how much each shard is diverted. */
function registerDiversionMetrics(
  counter: MetricFactory<Counter>,
  gauge: MetricFactory<Gauge>,
  cards: CardServices,
): void {
  counter(
    'mainstay_card_stand_in_advices_quarantined_total',
    'Advices the issuer kept refusing (definite errors), set aside for a person.',
    [],
    (m) => m.inc(cards.standIn.stats().quarantinedCount),
  );
  gauge(
    'mainstay_card_stand_in_exposure',
    'Stand-in exposure of forwarded advices (minor units), per currency.',
    ['currency'],
    (m) => {
      for (const [currency, amount] of Object.entries(cards.standIn.stats().exposureByCurrency))
        m.set({ currency }, Number(amount));
    },
  );
  gauge(
    'mainstay_card_stand_in_diversion',
    'Why a shard is diverted to stand-in now: 1 for its current reason (none when not), 0 otherwise.',
    ['shard', 'reason'],
    (m) => {
      for (const [shard, diversion] of Object.entries(cards.standIn.stats().diversions))
        for (const reason of DIVERSION_REASONS)
          m.set({ shard, reason }, diversion.reason === reason ? 1 : 0);
    },
  );
  gauge(
    'mainstay_card_issuer_latency_p99_seconds',
    "Issuer p99 latency per shard over the engine's recent window (the figure behind the latency diversion).",
    ['shard'],
    (m) => {
      for (const [shard, diversion] of Object.entries(cards.standIn.stats().diversions))
        m.set({ shard }, (diversion.latencyP99Ms ?? 0) / 1_000);
    },
  );
  gauge(
    'mainstay_card_stand_in_issuer_share',
    "Share of a shard's requests still sent to the issuer while its latency diversion ramps back (1: all).",
    ['shard'],
    (m) => {
      for (const [shard, diversion] of Object.entries(cards.standIn.stats().diversions))
        m.set({ shard }, diversion.issuerSharePercent / 100);
    },
  );
  gauge(
    'mainstay_card_stand_in_outstanding',
    'Stand-in approvals of every API process not yet on the issuer books (minor units), per currency; from the registry on the witness.',
    ['currency'],
    (m) => {
      const { registry } = cards.standIn.stats().shared;
      for (const [currency, amount] of Object.entries(registry.outstandingByCurrency))
        m.set({ currency }, Number(amount));
    },
  );
}

/** The shared stand-in registry (decisions 37, 38) and the engine's batches. */
function registerRegistryMetrics(
  counter: MetricFactory<Counter>,
  gauge: MetricFactory<Gauge>,
  cards: CardServices,
): void {
  gauge(
    'mainstay_card_stand_in_overshoot',
    'Books above credit limits after stand-in advices were applied, summed over accounts (minor units), per currency.',
    ['currency'],
    (m) => {
      const { registry } = cards.standIn.stats().shared;
      for (const [currency, amount] of Object.entries(registry.overshootByCurrency))
        m.set({ currency }, Number(amount));
    },
  );
  gauge(
    'mainstay_card_stand_in_unapplied',
    'Stand-in decisions of every API process not yet on the issuer books, per shard.',
    ['shard'],
    (m) => {
      const { registry } = cards.standIn.stats().shared;
      for (const [shard, count] of Object.entries(registry.unappliedByShard))
        m.set({ shard }, count);
    },
  );
  gauge(
    'mainstay_card_stand_in_registry_up',
    'Whether the stand-in registry on the witness answered its last poll (1) or not (0); while it does not, stand-in promises nothing.',
    [],
    (m) => m.set(cards.standIn.stats().shared.registry.reachable ? 1 : 0),
  );
  counter(
    'mainstay_card_stand_in_one_answer_total',
    'How one answer per request was kept: an answer given before found (shared), the issuer answer honoured by stand-in (issuer), requests left undecided because the issuer answer could not be read (unverified), approvals turned down by the shared exposure caps (capped), requests stand-in could not decide without the witness (registry_unavailable).',
    ['kind'],
    (m) => {
      const shared = cards.standIn.stats().shared;
      m.inc({ kind: 'shared' }, shared.sharedAnswersReplayed);
      m.inc({ kind: 'issuer' }, shared.issuerAnswersHonoured);
      m.inc({ kind: 'unverified' }, shared.unverifiedDecisions);
      m.inc({ kind: 'capped' }, shared.cappedByExposure);
      m.inc({ kind: 'registry_unavailable' }, shared.registryUnavailable);
    },
  );
  counter(
    'mainstay_card_engine_batches_total',
    'Authorization batches committed (one round trip and one commit each).',
    [],
    (m) => m.inc(cards.engine.stats.batches),
  );
}

/** The engine: requests, moves, isolated batches, overload and queue depth. */
function registerEngineMetrics(
  counter: MetricFactory<Counter>,
  gauge: MetricFactory<Gauge>,
  cards: CardServices,
): void {
  counter(
    'mainstay_card_engine_requests_total',
    'Authorization requests applied in batches.',
    [],
    (m) => m.inc(cards.engine.stats.requests),
  );
  counter(
    'mainstay_card_engine_moves_total',
    'Captures and reversals applied in authorization batches.',
    [],
    (m) => m.inc(cards.engine.stats.moves),
  );
  counter(
    'mainstay_card_engine_batches_isolated_total',
    'Batches that failed because of some of their items and were split so those failed alone.',
    [],
    (m) => m.inc(cards.engine.stats.batchesIsolated),
  );
  counter(
    'mainstay_card_engine_items_failed_alone_total',
    'Authorizations and hold moves that failed alone after their batch was split.',
    [],
    (m) => m.inc(cards.engine.stats.itemsFailedAlone),
  );
  counter(
    'mainstay_card_engine_overloaded_total',
    'Authorization requests refused by a full shard queue (before stand-in takes them).',
    [],
    (m) => m.inc(cards.engine.stats.overloaded),
  );
  gauge(
    'mainstay_card_engine_queue_depth',
    'Authorization requests waiting per shard.',
    ['shard'],
    (m) => {
      for (const shardId of cards.router.map.shardIds) {
        m.set({ shard: String(shardId) }, cards.engine.queueDepth(shardId));
      }
    },
  );
}
