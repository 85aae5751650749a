import type { FinalState, MessagePlan } from './message-plan.js';

/**
 * A realistic mix of message lifecycles: telemetry ready after a few seconds, most messages
 * Completed with mostly Success, some WrongToken / ExpiredChannel, occasional Throttled, a few
 * NoTargetFound, Abandoned and (scheduled, then) Canceled.
 */
export interface FailureSpike {
  collection: string;
  outcome: string;
  /** Share of that platform's devices that fail this way while the spike lasts. */
  share: number;
}

export function realisticPlan(random: () => number, spike?: FailureSpike): MessagePlan {
  const between = (low: number, high: number) => Math.round(low + random() * (high - low));
  const roll = random();
  const finalState: FinalState =
    roll < 0.02 ? 'NoTargetFound' : roll < 0.035 ? 'Abandoned' : roll < 0.045 ? 'Canceled' : 'Completed';
  const plan: MessagePlan = {
    notReadyMilliseconds: between(500, 6_000),
    enqueuedMilliseconds: between(100, 1_500),
    processingMilliseconds: between(200, 6_000),
    finalState,
    outcomes: {},
  };
  if (finalState === 'NoTargetFound') return plan;
  if (finalState === 'Canceled') return { ...plan, scheduledMilliseconds: between(1_000, 5_000), enqueuedMilliseconds: 0, spellCancelled: random() < 0.5 };

  const collections = ['ApnsOutcomeCounts', 'FcmV1OutcomeCounts', 'WnsOutcomeCounts'].filter(() => random() < 0.7);
  if (collections.length === 0) collections.push('FcmV1OutcomeCounts');
  if (spike && !collections.includes(spike.collection)) collections.push(spike.collection);
  for (const collection of collections) {
    const devices = between(1, 200);
    const counts: Record<string, number> = {};
    const wrongToken = Math.floor(devices * random() * 0.05);
    const expired = Math.floor(devices * random() * 0.03);
    const throttled = random() < 0.1 ? Math.floor(devices * random() * 0.1) : 0;
    counts.WrongToken = wrongToken;
    counts.ExpiredChannel = expired;
    counts.Throttled = throttled;
    if (finalState === 'Abandoned') counts.AbandonedNotificationMessages = Math.max(1, Math.floor(devices * 0.5));
    if (spike?.collection === collection) counts[spike.outcome] = (counts[spike.outcome] ?? 0) + Math.ceil(devices * spike.share);
    const failed = Object.entries(counts).reduce((total, [, count]) => total + count, 0);
    counts.Success = Math.max(0, devices - failed);
    plan.outcomes[collection] = counts;
  }
  return plan;
}

/** A message the hub gives up on: some devices reached, the rest dropped after a timeout. */
export function abandonedPlan(random: () => number): MessagePlan {
  const devices = 20 + Math.floor(random() * 80);
  return {
    notReadyMilliseconds: 1_000,
    enqueuedMilliseconds: 500,
    processingMilliseconds: 3_000,
    finalState: 'Abandoned',
    outcomes: { FcmV1OutcomeCounts: { Success: Math.floor(devices / 2), AbandonedNotificationMessages: devices - Math.floor(devices / 2) } },
  };
}
