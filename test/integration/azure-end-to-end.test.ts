import { afterEach, describe, expect, it } from 'vitest';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import { storageBackends } from '../support/backends.js';
import { Harness } from '../support/harness.js';
import { groupBy, sumOf, type Sample } from '../support/prometheus-text.js';
import { probeNotificationId } from '../../src/sources/azure-notification-hubs/poller.js';

const target = 'orders-target';
const plans: Record<string, MessagePlan> = {
  growing: {
    notReadyMilliseconds: 3_000,
    enqueuedMilliseconds: 1_000,
    processingMilliseconds: 40_000,
    finalState: 'Completed',
    outcomes: { ApnsOutcomeCounts: { Success: 1000, WrongToken: 37 }, FcmV1OutcomeCounts: { Success: 500, InvalidToken: 3 } },
  },
  quick: {
    notReadyMilliseconds: 1_000,
    enqueuedMilliseconds: 100,
    processingMilliseconds: 500,
    finalState: 'Completed',
    outcomes: { WnsOutcomeCounts: { Success: 3, WrongToken: 1 } },
  },
  abandoned: {
    notReadyMilliseconds: 2_000,
    enqueuedMilliseconds: 500,
    processingMilliseconds: 20_000,
    finalState: 'Abandoned',
    outcomes: { GcmOutcomeCounts: { AbandonedNotificationMessages: 10, Success: 5 } },
  },
  noTarget: { notReadyMilliseconds: 1_000, enqueuedMilliseconds: 100, processingMilliseconds: 100, finalState: 'NoTargetFound', outcomes: {} },
  cancelled: {
    notReadyMilliseconds: 1_000,
    scheduledMilliseconds: 20_000,
    enqueuedMilliseconds: 0,
    processingMilliseconds: 0,
    finalState: 'Canceled',
    spellCancelled: true,
    outcomes: {},
  },
  slowToAppear: {
    notReadyMilliseconds: 45_000,
    enqueuedMilliseconds: 1_000,
    processingMilliseconds: 1_000,
    finalState: 'Completed',
    outcomes: { ApnsOutcomeCounts: { Success: 7, InvalidCredentials: 2 } },
  },
};

/** The design's invariant, per target: accepted intake items = Σ messages_total + Σ tracking_expired_total + Σ tracked_messages. */
function expectConservation(samples: Sample[]): void {
  const accepted = sumOf(samples, 'push_notification_intake_notifications_total', { target, result: 'accepted' });
  const finished = sumOf(samples, 'push_notification_messages_total', { target });
  const expired = sumOf(samples, 'push_notification_tracking_expired_total', { target });
  const tracked = sumOf(samples, 'push_notification_tracked_messages', { target });
  expect(finished + expired + tracked).toBe(accepted);
}

function expectedOutcomes(harness: Harness): Map<string, number> {
  return harness.simulator.truth('orders').outcomes;
}

const backends = storageBackends();

describe.each(backends.names)('Azure Notification Hubs end to end on the simulator (%s)', (backend) => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  it('counts a mix of messages exactly, tracks them in flight and keeps the conservation invariant', async () => {
    harness = await Harness.start({ ...backends.options(backend), hubSettings: { notFoundDeadline: '2m', maxAge: '30m' } });
    const { simulator } = harness;
    const ids = Object.fromEntries(Object.entries(plans).map(([name, plan]) => [name, simulator.createMessage('orders', plan)]));
    const startedAt = harness.clock.now();

    const single = await harness.post({ target, notificationId: ids.growing });
    expect(single).toEqual({ status: 202, json: { accepted: 1, duplicates: 0 } });
    const batch = await harness.post([
      { location: simulator.locationOf('orders', ids.quick as string) },
      { target, location: simulator.locationOf('orders', ids.abandoned as string) },
      { target, notificationId: ids.noTarget },
      { target, notificationId: ids.cancelled },
      { target, notificationId: ids.slowToAppear },
      { target, notificationId: '9999999999999999999-never-sent' },
      { target, notificationId: ids.growing },
    ]);
    expect(batch).toEqual({ status: 202, json: { accepted: 6, duplicates: 1 } });

    await harness.advance(5_000);
    let samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_tracked_messages', { target, state: 'Pending' })).toBe(7);
    expectConservation(samples);
    // Nobody is asked before 10 s have passed since intake.
    expect(simulator.requests.filter((request) => request.notificationId !== probeNotificationId)).toEqual([]);

    await harness.advance(10_000);
    samples = await harness.scrape();
    const partialApnsSuccess = sumOf(samples, 'push_notification_outcomes_total', { target, platform: 'apns', outcome: 'Success' });
    expect(partialApnsSuccess).toBeGreaterThan(0);
    expect(partialApnsSuccess).toBeLessThan(1000);
    expect(sumOf(samples, 'push_notification_tracked_messages', { target, state: 'Processing' })).toBeGreaterThanOrEqual(1);
    expect(sumOf(samples, 'push_notification_messages_total', { target, state: 'Completed' })).toBe(1);
    expectConservation(samples);
    for (const id of Object.values(ids)) {
      const first = simulator.requestsFor(id)[0];
      if (first) expect(first.at - startedAt).toBeGreaterThanOrEqual(10_000);
    }

    // Re-submitting a finished ID is a duplicate and is not tracked again.
    expect(await harness.post({ target, notificationId: ids.quick })).toEqual({ status: 202, json: { accepted: 0, duplicates: 1 } });

    await harness.advance(5 * 60_000, 2_000);
    samples = await harness.scrape();
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { target })).toEqual(expectedOutcomes(harness));
    expect(groupBy(samples, 'push_notification_messages_total', ['state'], { target })).toEqual(
      new Map([
        ['Completed', 3],
        ['Abandoned', 1],
        ['NoTargetFound', 1],
        ['Canceled', 1],
      ]),
    );
    expect(groupBy(samples, 'push_notification_tracking_expired_total', ['reason'], { target })).toEqual(
      new Map([
        ['not_found', 1],
        ['max_age', 0],
      ]),
    );
    expect(sumOf(samples, 'push_notification_tracked_messages', { target })).toBe(0);
    expect(groupBy(samples, 'push_notification_intake_notifications_total', ['target', 'result'])).toEqual(
      new Map([
        ['/rejected', 0],
        [`${target}/accepted`, 7],
        [`${target}/duplicate`, 2],
        [`${target}/rejected`, 0],
      ]),
    );
    expectConservation(samples);
    expect(sumOf(samples, 'push_notification_queue_duration_seconds_count', { target })).toBe(5);
    expect(sumOf(samples, 'push_notification_processing_duration_seconds_count', { target })).toBe(5);
    expect(sumOf(samples, 'push_notification_processing_duration_seconds_sum', { target })).toBeCloseTo(40 + 0.5 + 20 + 1 + 0.1, 3);
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(1);

    // The quick message was finished by its first poll: one request.
    expect(simulator.requestsFor(ids.quick as string)).toHaveLength(1);
    const lookup = await harness.lookup(target, ids.quick as string);
    expect(lookup.status).toBe(200);
    expect(lookup.json).toMatchObject({ state: 'Completed', finishReason: 'terminal', attempts: 1, lastStatus: '200', outcomes: { wns: { Success: 3, WrongToken: 1 } } });
    const never = await harness.lookup(target, '9999999999999999999-never-sent');
    expect(never.json).toMatchObject({ state: 'Pending', finishReason: 'not_found', lastStatus: '404' });
  });

  it('keeps counters and tracking across a restart and ends with exact totals', async () => {
    harness = await Harness.start(backends.options(backend));
    const growing = harness.simulator.createMessage('orders', plans.growing as MessagePlan);
    const abandoned = harness.simulator.createMessage('orders', plans.abandoned as MessagePlan);
    expect((await harness.post([{ target, notificationId: growing }, { target, notificationId: abandoned }])).status).toBe(202);
    await harness.advance(16_000);
    const before = await harness.scrape();
    const partial = sumOf(before, 'push_notification_outcomes_total', { target });
    expect(partial).toBeGreaterThan(0);

    await harness.restart();
    const afterRestart = await harness.scrape();
    // Counters continue from where they were: no reset, no double count.
    expect(sumOf(afterRestart, 'push_notification_outcomes_total', { target })).toBe(partial);
    expect(sumOf(afterRestart, 'push_notification_tracked_messages', { target })).toBe(
      sumOf(before, 'push_notification_tracked_messages', { target }),
    );

    await harness.advance(3 * 60_000, 2_000);
    const final = await harness.scrape();
    expect(groupBy(final, 'push_notification_outcomes_total', ['platform', 'outcome'], { target })).toEqual(expectedOutcomes(harness));
    expect(sumOf(final, 'push_notification_messages_total', { target })).toBe(2);
    expectConservation(final);
  });

  it('gives up on a message that never finishes after maxAge', async () => {
    harness = await Harness.start({ ...backends.options(backend), hubSettings: { maxAge: '5m' } });
    const stuck = harness.simulator.createMessage('orders', {
      notReadyMilliseconds: 1_000,
      enqueuedMilliseconds: 1_000,
      processingMilliseconds: 1_000,
      finalState: 'Processing',
      outcomes: { ApnsOutcomeCounts: { Success: 4 } },
    });
    await harness.post({ target, notificationId: stuck });
    await harness.advance(4 * 60_000, 5_000);
    let samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_tracked_messages', { target, state: 'Processing' })).toBe(1);
    await harness.advance(2 * 60_000, 5_000);
    samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_tracking_expired_total', { target, reason: 'max_age' })).toBe(1);
    expect(sumOf(samples, 'push_notification_outcomes_total', { target, platform: 'apns', outcome: 'Success' })).toBe(4);
    expectConservation(samples);
    // Re-polls were spaced out, not every 10 s: at most one request a 10 s over 5 minutes and growing gaps.
    expect(harness.simulator.requestsFor(stuck).length).toBeLessThan(15);
  });
});
