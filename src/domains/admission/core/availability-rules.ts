/**
 * The availability rules of the admission gate (decision 55): active-active and the bypass from
 * the stated RTO, RPO and whether the change is on a money path; stateless redundancy for each
 * service the change runs. The measured lag of the cross-DC copies is cited where it bounds what
 * the stated RPO can mean.
 */
import { bytes, count, type Finding, type RuleContext } from './finding.ts';

/** One finding about the change as a whole. */
export function activeActiveRule(context: RuleContext): Finding[] {
  const { rtoSeconds, rpoSeconds, moneyPath } = context.request.availability;
  const bound = context.thresholds.activeActiveRtoSecondsMax;
  let finding: Finding;
  if (moneyPath) {
    finding = {
      subject: null,
      status: 'required',
      reason: `a money path (stated RTO ${rtoSeconds} s) must go on through the loss of a data centre: its shards homed in both, each holding a live copy of the other's`,
    };
  } else if (rtoSeconds <= bound) {
    finding = {
      subject: null,
      status: 'required',
      reason: `stated RTO ${rtoSeconds} s is at most ${bound} s, too short to recover in a standby data centre`,
    };
  } else {
    finding = {
      subject: null,
      status: 'not_required',
      reason: `stated RTO ${rtoSeconds} s is above ${bound} s: recovery in a standby data centre fits in it`,
    };
  }
  if (finding.status === 'required') {
    finding = { ...finding, reason: `${finding.reason}; ${rpoNote(rpoSeconds, context)}` };
  }
  return [finding];
}

/** What the stated RPO means with the copies as they lag now. */
function rpoNote(rpoSeconds: number, context: RuleContext): string {
  const copies = context.measured.replication.filter((lag) => lag.kind === 'logical');
  const worst = copies.length === 0 ? null : Math.max(...copies.map((lag) => lag.lagBytes));
  const lag =
    worst === null
      ? 'no cross-DC copy is streaming now'
      : `the cross-DC copies lag up to ${bytes(worst)} now`;
  if (rpoSeconds === 0) {
    return `RPO 0: synchronous commit within each data centre; the cross-DC copy is asynchronous (${lag}), so a data-centre loss can lose that tail, which is measured and reconciled`;
  }
  return `RPO ${rpoSeconds} s; ${lag}`;
}

/** One finding per service, or one saying the change runs none. */
export function statelessRedundancyRule(context: RuleContext): Finding[] {
  const { services } = context.request;
  if (services.length === 0) {
    return [{ subject: null, status: 'not_required', reason: 'the change states no service' }];
  }
  const least = context.thresholds.instancesPerDataCentreMin;
  return services.map((service) => {
    const faults = [
      ...(service.keepsLocalState
        ? [
            'keeps local state: move it to the shards or a shared store, so any instance can answer any request',
          ]
        : []),
      ...(service.instancesPerDataCentre < least
        ? [
            `runs ${service.instancesPerDataCentre} instances per data centre, fewer than ${least}: losing one must not stop it`,
          ]
        : []),
    ];
    const reason =
      faults.length > 0
        ? `${service.name} ${faults.join('; and ')}`
        : `${service.name}: met by the stated design (${count(service.instancesPerDataCentre)} instances per data centre, no local state); keep it so`;
    return { subject: service.name, status: 'required' as const, reason };
  });
}

/** One finding about the change as a whole. */
export function bypassRule(context: RuleContext): Finding[] {
  const { rtoSeconds, moneyPath } = context.request.availability;
  const bound = context.thresholds.bypassRtoSecondsBelow;
  if (!moneyPath) {
    return [
      {
        subject: null,
        status: 'not_required',
        reason: 'not a money path: its writes may wait for a failover',
      },
    ];
  }
  if (rtoSeconds < bound) {
    return [
      {
        subject: null,
        status: 'required',
        reason: `a money path with a stated RTO of ${rtoSeconds} s, below the ${bound} s a failover within a data centre takes: its writes go to a bypass (the bypass spool or takeover tables) while the primary is away, and are replayed after`,
      },
    ];
  }
  return [
    {
      subject: null,
      status: 'recommended',
      reason: `a money path with a stated RTO of ${rtoSeconds} s: a failover fits in it, but a bypass keeps taking its writes during one`,
    },
  ];
}
