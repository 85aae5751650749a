import { expect } from 'vitest';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import type { Harness } from './harness.js';
import { groupBy, sumOf } from './prometheus-text.js';

/** The harness's default hub and its target, with a short plan: the scenarios of the fault and timing tests. */
export const ordersTarget = 'orders-target';

export const quickPlan: MessagePlan = {
  notReadyMilliseconds: 1_000,
  enqueuedMilliseconds: 500,
  processingMilliseconds: 2_000,
  finalState: 'Completed',
  outcomes: { ApnsOutcomeCounts: { Success: 20, WrongToken: 2 }, FcmV1OutcomeCounts: { Success: 9 } },
};

/** Creates `count` messages on the simulator and hands their IDs to the intake in one request. */
export async function submitMessages(harness: Harness, count: number, plan: MessagePlan = quickPlan): Promise<string[]> {
  const ids = Array.from({ length: count }, () => harness.simulator.createMessage('orders', plan));
  const response = await harness.post(ids.map((notificationId) => ({ target: ordersTarget, notificationId })));
  expect(response.status).toBe(202);
  return ids;
}

export function logsWith(harness: Harness, text: string): Record<string, unknown>[] {
  return harness.logLines.filter((line) => String(line.msg).includes(text));
}

/** Every message finished as Completed and the outcome counters equal the simulator's truth. */
export async function expectExactTotals(harness: Harness, messages: number): Promise<void> {
  const samples = await harness.scrape();
  expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { target: ordersTarget })).toEqual(
    harness.simulator.truth('orders').outcomes,
  );
  expect(sumOf(samples, 'push_notification_messages_total', { target: ordersTarget, state: 'Completed' })).toBe(messages);
  expect(sumOf(samples, 'push_notification_tracked_messages', { target: ordersTarget })).toBe(0);
}
