import { afterEach, describe, expect, it } from 'vitest';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import { probeNotificationId } from '../../src/sources/azure-notification-hubs/poller.js';
import { Harness } from '../support/harness.js';
import { expectExactTotals, logsWith, ordersTarget, quickPlan, submitMessages } from '../support/orders-hub.js';
import { sumOf } from '../support/prometheus-text.js';
import { waitFor } from '../support/wait.js';

/**
 * Adversarial but realistic upstream timing: throttling while several requests are in flight, bursts
 * of failures, an idle hub that calls the probe's ID malformed, and wall-clock steps on the
 * exporter's machine. The real exporter against the simulator on 127.0.0.1, on one manual clock.
 */
const target = ordersTarget;
const plan = quickPlan;
function pollsSince(harness: Harness, since: number) {
  return harness.simulator.requests.filter((request) => request.at >= since && request.notificationId !== probeNotificationId);
}

describe('throttling with requests in flight', () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  it.each([
    ['429', 429],
    ['503', 503],
    ['500', 500],
  ])('a %s with Retry-After: 60 among 4 requests in flight pauses the hub for the whole 60 s', async (_name, status) => {
    harness = await Harness.start({ hubSettings: { concurrency: 4 } });
    await submitMessages(harness, 40);
    // Four requests sent together: three are held, the fourth is throttled, then the three are answered.
    harness.simulator.injectFault('orders', { kind: 'hold' }, 3);
    harness.simulator.injectFault('orders', { kind: 'status', status, retryAfterSeconds: 60 }, 1);
    harness.clock.advance(10_000);
    await waitFor(() => (harness.simulator.heldCount === 3 && logsWith(harness, 'upstream').length > 0 ? true : undefined), {
      description: 'the throttled answer and three held requests',
      timeoutMilliseconds: 10_000,
      intervalMilliseconds: 20,
    });
    const throttledAt = harness.clock.now();
    const answeredBefore = harness.simulator.requests.length;
    expect(harness.simulator.releaseHeld()).toBe(3);
    await harness.advance(59_000);

    // Nothing reached the hub while the pause ran: the three valid answers did not cancel it.
    const during = harness.simulator.requests.slice(answeredBefore);
    expect(during.filter((request) => request.status !== 404 && request.status !== 200)).toEqual([]);
    expect(during).toHaveLength(3);
    expect(harness.simulator.requests.filter((request) => request.duringRetryAfter)).toEqual([]);
    const pauseLogs = harness.logLines.filter((line) => line.retryInSeconds !== undefined);
    expect(pauseLogs).toHaveLength(1);
    expect(pauseLogs[0]?.retryInSeconds).toBe(60);

    await harness.advance(2_000);
    expect(pollsSince(harness, throttledAt + 60_000).length).toBeGreaterThan(0);
    await harness.advance(5 * 60_000, 5_000);
    expect(harness.simulator.requests.filter((request) => request.duringRetryAfter)).toEqual([]);
    await expectExactTotals(harness, 40);
  });
});

describe('back-off after a burst of failures', () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  it.each([
    ['503', 503, 5],
    ['401', 401, 30],
  ])('eight %s answers in flight together are one step of back-off, as logged', async (_name, status, firstStepSeconds) => {
    harness = await Harness.start({ hubSettings: { concurrency: 8 } });
    await submitMessages(harness, 8);
    harness.simulator.injectFault('orders', { kind: 'status', status }, 8);
    await harness.advance(10_000);
    const burst = harness.simulator.requests.filter((request) => request.status === status);
    expect(burst).toHaveLength(8);
    const burstAt = burst[0]?.at ?? 0;

    const pauseLogs = harness.logLines.filter((line) => line.retryInSeconds !== undefined);
    expect(pauseLogs).toHaveLength(1);
    expect(pauseLogs[0]?.retryInSeconds).toBe(firstStepSeconds);

    // The first retry comes within the first step (and its jitter), not minutes later.
    await harness.advance(firstStepSeconds * 1_000 * 1.1 + 1_000, 250);
    const retries = pollsSince(harness, burstAt + 1);
    expect(retries.length).toBeGreaterThan(0);
    const firstRetry = Math.min(...retries.map((request) => request.at));
    expect(firstRetry - burstAt).toBeGreaterThanOrEqual(firstStepSeconds * 1_000);

    await harness.advance(3 * 60_000, 1_000);
    await expectExactTotals(harness, 8);
  });
});

describe('the idle probe', () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  it('counts a 400 (and a 404) for its made-up ID as the hub answering, like a poll does', async () => {
    harness = await Harness.start();
    harness.simulator.injectFault('orders', { kind: 'status', status: 400 });
    await harness.advance(16 * 60_000, 10_000);
    const probes = harness.simulator.requests.filter((request) => request.notificationId === probeNotificationId);
    expect(probes.length).toBeGreaterThanOrEqual(3);
    expect(probes.every((request) => request.status === 400)).toBe(true);
    let samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(1);
    expect(sumOf(samples, 'push_notification_upstream_requests_total', { target, operation: 'probe', code: '400' })).toBe(probes.length);

    harness.simulator.clearFaults();
    await harness.advance(6 * 60_000, 10_000);
    samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_upstream_requests_total', { target, operation: 'probe', code: '404' })).toBeGreaterThan(0);
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(1);
  });

  it('asks for an ID shaped like the hub own IDs', () => {
    expect(probeNotificationId).toMatch(/^\d{19}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});

describe('wall-clock steps on the exporter machine', () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  const slowPlan: MessagePlan = { ...plan, notReadyMilliseconds: 20 * 60_000, enqueuedMilliseconds: 60_000, processingMilliseconds: 5 * 60_000 };

  it('keeps polling at the same pace across a step of one hour backwards', async () => {
    harness = await Harness.start();
    const [id = ''] = await submitMessages(harness, 1, slowPlan);
    await harness.advance(5 * 60_000);
    const before = harness.simulator.requestsFor(id).length;
    expect(before).toBeGreaterThanOrEqual(5);

    harness.exporterClock.stepWallClock(-60 * 60_000);
    const steppedAt = harness.clock.now();
    await harness.advance(5 * 60_000);
    const after = harness.simulator.requestsFor(id).filter((request) => request.at >= steppedAt).length;
    // 404s every minute (10, 20, 40, then 60 s gaps): five more in five minutes, as before the step.
    expect(after).toBeGreaterThanOrEqual(4);

    await harness.advance(30 * 60_000, 10_000);
    await expectExactTotals(harness, 1);
    const record = await harness.lookup(target, id);
    // Times shown to users stay on the (stepped) wall clock.
    expect(Date.parse(String(record.json.finishedAt))).toBeLessThan(harness.clock.now() - 50 * 60_000);
  });

  it('does not give a Pending message up early after a step of one hour forwards', async () => {
    harness = await Harness.start();
    await submitMessages(harness, 3, slowPlan);
    await harness.advance(2 * 60_000);
    harness.exporterClock.stepWallClock(60 * 60_000);
    await harness.advance(2 * 60_000);
    let samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_tracking_expired_total', { target })).toBe(0);
    expect(sumOf(samples, 'push_notification_tracked_messages', { target, state: 'Pending' })).toBe(3);

    await harness.advance(30 * 60_000, 10_000);
    samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_tracking_expired_total', { target })).toBe(0);
    await expectExactTotals(harness, 3);
  });

  it('resumes after a restart with the wall clock stepped while it was down', async () => {
    harness = await Harness.start();
    const [id = ''] = await submitMessages(harness, 1, slowPlan);
    await harness.advance(3 * 60_000);
    await harness.exporter.stop();
    harness.exporterClock.stepWallClock(-60 * 60_000);
    await harness.startExporter();
    const restartedAt = harness.clock.now();
    await harness.advance(6 * 60_000);
    // Stored times are wall-clock: after a backward step while down, a stored next poll an hour
    // away is pulled in to the schedule's longest gap (5 minutes), never left to stall for the hour.
    expect(harness.simulator.requestsFor(id).filter((request) => request.at >= restartedAt).length).toBeGreaterThan(0);
  });
});
