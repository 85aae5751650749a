import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import { Harness } from '../support/harness.js';
import { sumOf, type Sample } from '../support/prometheus-text.js';

/**
 * Issue 11, item 8: push_notification_intake_notifications_total carries target, so that
 * accepted = Σ messages_total + Σ tracking_expired_total + Σ tracked_messages holds per target.
 */
const intake = 'push_notification_intake_notifications_total';
const targets = ['orders-target', 'billing-target'];

const completes = (finalState: MessagePlan['finalState']): MessagePlan => ({
  notReadyMilliseconds: 1_000,
  enqueuedMilliseconds: 1_000,
  processingMilliseconds: 1_000,
  finalState,
  outcomes: { FcmV1OutcomeCounts: { Success: 2 } },
});
/** Never has telemetry: given up at notFoundDeadline (30 min). */
const neverReady: MessagePlan = { ...completes('Completed'), notReadyMilliseconds: 10 * 86_400_000 };
/** Still Processing when the test ends. */
const slow: MessagePlan = { ...completes('Completed'), processingMilliseconds: 86_400_000 };

function balance(samples: readonly Sample[], target: string): { accepted: number; ended: number } {
  const azure = { source: 'azure_notification_hubs', target };
  return {
    accepted: sumOf(samples, intake, { target, result: 'accepted' }),
    ended:
      sumOf(samples, 'push_notification_messages_total', azure) +
      sumOf(samples, 'push_notification_tracking_expired_total', azure) +
      sumOf(samples, 'push_notification_tracked_messages', azure),
  };
}

describe('intake counts per target', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await Harness.start({ hubs: ['orders', 'billing'] });
  });
  afterAll(async () => harness?.close());

  it('labels accepted, duplicate and rejected items with their target, "" when the target is unknown', async () => {
    const orders = ['o-1', 'o-2', 'o-3', 'o-4'].map((id, index) =>
      harness.simulator.createMessage('orders', [completes('Completed'), completes('Abandoned'), neverReady, slow][index] as MessagePlan, id),
    );
    harness.simulator.createMessage('billing', completes('NoTargetFound'), 'b-1');
    const accepted = await harness.post([
      ...orders.map((notificationId) => ({ target: 'orders-target', notificationId })),
      { location: harness.simulator.locationOf('billing', 'b-1') },
      { target: 'orders-target', notificationId: 'o-1' },
    ]);
    expect(accepted).toEqual({ status: 202, json: { accepted: 5, duplicates: 1 } });
    // A refused batch: one item names a known target (with a bad ID), one an unknown target, one a billing location.
    const refused = await harness.post([
      { target: 'billing-target', notificationId: 'has space' },
      { target: 'nope', notificationId: 'x' },
      { location: harness.simulator.locationOf('billing', 'b-2') },
    ]);
    expect(refused.status).toBe(400);
    expect((await harness.post('{not json')).status).toBe(400);

    const samples = await harness.scrape();
    const value = (target: string, result: string) => sumOf(samples, intake, { target, result });
    expect({
      ordersAccepted: value('orders-target', 'accepted'),
      ordersDuplicate: value('orders-target', 'duplicate'),
      billingAccepted: value('billing-target', 'accepted'),
      billingRejected: value('billing-target', 'rejected'),
      unknownRejected: value('', 'rejected'),
    }).toEqual({ ordersAccepted: 4, ordersDuplicate: 1, billingAccepted: 1, billingRejected: 2, unknownRejected: 2 });
    // No source label: intake is for Azure IDs, and every series names its target (possibly empty).
    for (const sample of samples.filter((candidate) => candidate.name === intake)) {
      expect(Object.keys(sample.labels).sort()).toEqual(['result', 'target']);
    }
  });

  it('balances per target at every step: accepted = terminal + expired + tracked', async () => {
    for (const step of [0, 15_000, 60_000, 31 * 60_000]) {
      await harness.advance(step, 5_000);
      const samples = await harness.scrape();
      for (const target of targets) {
        const { accepted, ended } = balance(samples, target);
        expect(ended, `${target} after ${step} ms`).toBe(accepted);
      }
    }
    const samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_tracking_expired_total', { target: 'orders-target', reason: 'not_found' })).toBe(1);
    expect(sumOf(samples, 'push_notification_tracked_messages', { target: 'orders-target', state: 'Processing' })).toBe(1);
    expect(sumOf(samples, 'push_notification_messages_total', { target: 'billing-target', state: 'NoTargetFound' })).toBe(1);
  });

  it('keeps the per-target counts across a restart (they are durable)', async () => {
    const before = await harness.scrape();
    await harness.restart();
    const after = await harness.scrape();
    for (const target of targets) {
      expect(sumOf(after, intake, { target, result: 'accepted' })).toBe(sumOf(before, intake, { target, result: 'accepted' }));
      expect(balance(after, target).ended).toBe(balance(after, target).accepted);
    }
  });
});
