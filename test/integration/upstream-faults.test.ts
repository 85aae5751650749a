import { afterEach, describe, expect, it } from 'vitest';
import type { SimulatorFault } from '../../src/simulator/notification-hubs/server.js';
import { Harness } from '../support/harness.js';
import { expectExactTotals, logsWith, ordersTarget, submitMessages } from '../support/orders-hub.js';
import { sumOf } from '../support/prometheus-text.js';
import { probeNotificationId } from '../../src/sources/azure-notification-hubs/poller.js';

const target = ordersTarget;
const probeId = probeNotificationId;
describe('upstream faults', () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  it.each<[string, SimulatorFault, string, string]>([
    ['401', { kind: 'status', status: 401 }, '401', 'hub rejected the credentials'],
    ['403 (not Standard tier)', { kind: 'status', status: 403 }, '403', 'per-message telemetry needs a Standard tier hub'],
    ['500', { kind: 'status', status: 500 }, '500', 'upstream request failed'],
    ['connection reset', { kind: 'reset' }, 'network_error', 'upstream request failed'],
  ])('on %s: source down, one log line, messages kept, then recovery with exact totals', async (_name, fault, code, logText) => {
    harness = await Harness.start();
    await harness.advance(1_000);
    harness.simulator.injectFault('orders', fault);
    await submitMessages(harness, 30);
    await harness.advance(3 * 60_000);

    let samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(0);
    expect(sumOf(samples, 'push_notification_upstream_requests_total', { target, code })).toBeGreaterThan(0);
    expect(sumOf(samples, 'push_notification_tracked_messages', { target })).toBe(30);
    expect(logsWith(harness, logText)).toHaveLength(1);
    // Backing off: one request at a time, spaced out, not one per message per 10 s.
    const failing = harness.simulator.requests.filter((request) => request.status !== 200 && request.notificationId !== probeId);
    expect(failing.length).toBeLessThan(20);

    harness.simulator.clearFaults();
    await harness.advance(12 * 60_000, 5_000);
    samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(1);
    expect(logsWith(harness, 'upstream answers again')).toHaveLength(1);
    await expectExactTotals(harness, 30);
  });

  it('gives messages up at maxAge while the hub keeps failing, so tracking stays bounded', async () => {
    harness = await Harness.start({ hubSettings: { maxAge: '30m' } });
    await harness.advance(1_000);
    harness.simulator.injectFault('orders', { kind: 'status', status: 401 });
    await submitMessages(harness, 25);
    await harness.advance(20 * 60_000, 10_000);
    let samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_tracked_messages', { target })).toBe(25);
    await harness.advance(25 * 60_000, 10_000);
    samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_tracked_messages', { target })).toBe(0);
    expect(sumOf(samples, 'push_notification_tracking_expired_total', { target, reason: 'max_age' })).toBe(25);
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(0);
    // The conservation invariant holds through the outage.
    expect(sumOf(samples, 'push_notification_intake_notifications_total', { result: 'accepted' })).toBe(25);
  });

  it('treats a 400 for one ID as an answer about that ID, not as the hub being down', async () => {
    harness = await Harness.start({ hubSettings: { notFoundDeadline: '1m' } });
    await submitMessages(harness, 1);
    harness.simulator.injectFault('orders', { kind: 'status', status: 400 });
    await harness.advance(3 * 60_000);
    const samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(1);
    expect(sumOf(samples, 'push_notification_tracking_expired_total', { target, reason: 'not_found' })).toBe(1);
    expect(logsWith(harness, 'upstream request failed')).toHaveLength(0);
  });

  it('honours Retry-After on 429: no request to the hub until it has passed', async () => {
    harness = await Harness.start();
    await submitMessages(harness, 10);
    harness.simulator.injectFault('orders', { kind: 'status', status: 429, retryAfterSeconds: 45 }, 1);
    await harness.advance(11_000);
    const throttledAt = harness.simulator.requests.find((request) => request.status === 429)?.at;
    expect(throttledAt).toBeDefined();
    await harness.advance(2 * 60_000);
    const afterwards = harness.simulator.requests.filter((request) => request.at > (throttledAt as number));
    expect(afterwards.length).toBeGreaterThan(0);
    expect(Math.min(...afterwards.map((request) => request.at)) - (throttledAt as number)).toBeGreaterThanOrEqual(45_000);
    expect(logsWith(harness, 'upstream is throttling')).toHaveLength(1);
    await expectExactTotals(harness, 10);
  });

  it('honours x-ms-retry-after-ms and 403 with a Retry-After as throttling', async () => {
    harness = await Harness.start();
    await submitMessages(harness, 3);
    harness.simulator.injectFault('orders', { kind: 'status', status: 403, retryAfterMilliseconds: 20_000 }, 1);
    await harness.advance(11_000);
    const throttledAt = harness.simulator.requests.find((request) => request.status === 403)?.at as number;
    await harness.advance(60_000);
    const next = harness.simulator.requests.find((request) => request.at > throttledAt);
    expect((next?.at ?? 0) - throttledAt).toBeGreaterThanOrEqual(20_000);
    expect(logsWith(harness, 'Standard tier')).toHaveLength(0);
    await expectExactTotals(harness, 3);
  });

  it('treats a malformed document as an invalid answer for that message and recovers', async () => {
    harness = await Harness.start();
    const ids = await submitMessages(harness, 2);
    harness.simulator.injectFault('orders', { kind: 'malformed' }, 2);
    await harness.advance(11_000);
    const samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(0);
    const warning = logsWith(harness, 'unusable upstream answer');
    expect(warning.map((line) => line.notificationId).sort()).toEqual([...ids].sort());
    expect(String(warning[0]?.error)).toMatch(/malformed XML/);
    await harness.advance(2 * 60_000);
    await expectExactTotals(harness, 2);
  });

  it('counts a slow answer as a timeout and retries', async () => {
    harness = await Harness.start({ hubSettings: { requestTimeout: '300ms' } });
    await submitMessages(harness, 1);
    harness.simulator.injectFault('orders', { kind: 'delay', milliseconds: 1_500 }, 1);
    await harness.advance(11_000);
    const samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_upstream_requests_total', { target, code: 'timeout' })).toBe(1);
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(0);
    await harness.advance(2 * 60_000);
    await expectExactTotals(harness, 1);
  });

  it('is refused by the simulator when signed with the wrong key, and never logs the key', async () => {
    harness = await Harness.start({ connectionKey: 'd3Jvbmcta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw==' });
    await harness.advance(1_000);
    const samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(0);
    expect(sumOf(samples, 'push_notification_upstream_requests_total', { target, operation: 'probe', code: '401' })).toBe(1);
    const logs = JSON.stringify(harness.logLines);
    expect(logs).toContain('hub rejected the credentials');
    expect(logs).toContain('InvalidSignature');
    expect(logs).not.toContain('d3Jvbmcta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw');
    expect(await harness.scrapeText()).not.toContain('d3Jvbmcta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw');
  });
});
