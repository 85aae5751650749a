import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from '../support/harness.js';
import { monitorResourceId, monitorSecret } from '../support/azure-monitor.js';
import type { Sample } from '../support/prometheus-text.js';

const minute = 60_000;
const settleDelay = 5 * minute;
const source = 'azure_monitor';
const target = 'orders-target';

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((sample) => sample.name === name && Object.entries(labels).every(([key, expected]) => sample.labels[key] === expected))?.value;
}

/** What an exact reader has counted: every minute that ended settleDelay ago or more. */
function settledBefore(harness: Harness): number {
  return Math.floor((harness.clock.now() - settleDelay) / minute) * minute;
}

describe('Azure Monitor platform metrics', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('counts exactly the settled minutes across several reads and a restart, late and partial minutes once', async () => {
    harness = await Harness.start({
      azureMonitor: { settleDelay: '5m', initialLookback: '30m' },
      // Minutes show no total for 2 minutes, then half their total for 2 more, then the final one.
      azureMonitorVisibility: { noTotalMilliseconds: 2 * minute, partialMilliseconds: 2 * minute },
    });
    const simulator = harness.monitorSimulator!;
    const send = (service: string, outcome: string, count: number) => simulator.metrics.addPush(monitorResourceId, service, outcome, count, harness!.clock.now());
    // Earlier traffic (inside initialLookback) and traffic while the exporter reads.
    simulator.metrics.addPush(monitorResourceId, 'apns', 'success', 40, harness.clock.now() - 20 * minute);
    simulator.metrics.addPush(monitorResourceId, 'wns', 'wrongtoken', 3, harness.clock.now() - 20 * minute);
    simulator.metrics.add(monitorResourceId, 'incoming', 43, harness.clock.now() - 20 * minute);
    const expectExact = async () => {
      const samples = await harness!.scrape();
      const before = settledBefore(harness!);
      expect(value(samples, 'push_notification_outcomes_total', { source, target, platform: 'apns', outcome: 'Success' }) ?? 0).toBe(simulator.metrics.settledTotal(monitorResourceId, 'outgoing.apns.success', before));
      expect(value(samples, 'push_notification_outcomes_total', { source, target, platform: 'wns', outcome: 'WrongToken' }) ?? 0).toBe(simulator.metrics.settledTotal(monitorResourceId, 'outgoing.wns.wrongtoken', before));
      expect(value(samples, 'push_notification_hub_pushes_total', { source, target }) ?? 0).toBe(simulator.metrics.settledTotal(monitorResourceId, 'notificationhub.pushes', before));
      expect(value(samples, 'push_notification_hub_sends_total', { source, target }) ?? 0).toBe(simulator.metrics.settledTotal(monitorResourceId, 'incoming', before));
      expect(value(samples, 'push_notification_hub_outgoing_total', { source, target, result: 'success' }) ?? 0).toBe(simulator.metrics.settledTotal(monitorResourceId, 'outgoing.allpns.success', before));
      return samples;
    };
    for (let round = 0; round < 8; round += 1) {
      send('apns', 'success', 7 + round);
      send('fcmv1', 'invalidcredentials', 1);
      send('wns', 'wrongtoken', round % 3);
      await harness.advance(minute, 20_000);
      await expectExact();
    }
    const beforeRestart = await expectExact();
    expect(value(beforeRestart, 'push_notification_outcomes_total', { source, target, platform: 'apns', outcome: 'Success' })).toBeGreaterThan(40);
    expect(value(beforeRestart, 'push_notification_source_up', { source, target })).toBe(1);
    await harness.restart();
    for (let round = 0; round < 8; round += 1) {
      send('apns', 'success', 3);
      send('gcm', 'pnserror', 2);
      await harness.advance(minute, 20_000);
      await expectExact();
    }
    // Quiet minutes until everything sent has settled: the totals are the fake's, whole.
    await harness.advance(8 * minute, 30_000);
    const samples = await expectExact();
    expect(value(samples, 'push_notification_outcomes_total', { source, target, platform: 'apns', outcome: 'Success' })).toBe(40 + [7, 8, 9, 10, 11, 12, 13, 14].reduce((a, b) => a + b) + 8 * 3);
    expect(value(samples, 'push_notification_outcomes_total', { source, target, platform: 'gcm', outcome: 'PnsError' })).toBe(16);
    // Batches of at most 20 names, never a request for the same minute counted twice.
    expect(Math.max(...simulator.queries.map((query) => query.names.length))).toBeLessThanOrEqual(20);
  });

  it('honours 429 Retry-After before asking again', async () => {
    harness = await Harness.start({ azureMonitor: {} });
    const simulator = harness.monitorSimulator!;
    await harness.advance(1_000);
    const afterFirstRound = simulator.requests.metrics;
    expect(afterFirstRound).toBeGreaterThan(0);
    simulator.throttle(1, 300);
    await harness.advance(minute, 10_000);
    expect(simulator.requests.throttled).toBe(1);
    // The next interval falls inside the 5-minute pause: nothing is asked.
    await harness.advance(3 * minute, 10_000);
    expect(simulator.requests.metrics).toBe(afterFirstRound);
    expect(simulator.requests.throttled).toBe(1);
    await harness.advance(2 * minute, 10_000);
    expect(simulator.requests.metrics).toBeGreaterThan(afterFirstRound);
    const samples = await harness.scrape();
    expect(value(samples, 'push_notification_upstream_requests_total', { source, target, operation: 'list_metrics', code: '429' })).toBe(1);
    expect(value(samples, 'push_notification_source_up', { source, target })).toBe(1);
  });

  it('bad credentials: source_up 0, one clear log line, no secret anywhere in the logs', async () => {
    harness = await Harness.start({ azureMonitor: { clientSecret: 'wrong-secret-value-do-not-log' } });
    await harness.advance(30 * minute, 20_000);
    const samples = await harness.scrape();
    expect(value(samples, 'push_notification_source_up', { source, target })).toBe(0);
    expect(value(samples, 'push_notification_upstream_requests_total', { source, target, operation: 'get_token', code: '401' })).toBeGreaterThan(1);
    const lines = harness.logLines.filter((line) => String(line.msg).includes('rejected the credentials'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', target, detail: 'Entra ID: invalid_client (AADSTS7000215)' });
    const logs = JSON.stringify(harness.logLines);
    expect(logs).not.toContain('wrong-secret-value-do-not-log');
    expect(logs).not.toContain(monitorSecret);
  });

  it('an expired secret and a missing role are each one log line, and the source recovers', async () => {
    harness = await Harness.start({ azureMonitor: {} });
    const simulator = harness.monitorSimulator!;
    simulator.tokenLifetimeSeconds = 60;
    await harness.advance(minute, 20_000);
    simulator.setForbidden('0c2a9d3e-0000-4000-8000-000000000002', true);
    await harness.advance(5 * minute, 20_000);
    let samples = await harness.scrape();
    expect(value(samples, 'push_notification_source_up', { source, target })).toBe(0);
    expect(harness.logLines.filter((line) => String(line.msg).includes('Monitoring Reader'))).toHaveLength(1);
    simulator.setForbidden('0c2a9d3e-0000-4000-8000-000000000002', false);
    await harness.advance(15 * minute, 20_000);
    samples = await harness.scrape();
    expect(value(samples, 'push_notification_source_up', { source, target })).toBe(1);
    simulator.expireSecret('0c2a9d3e-0000-4000-8000-000000000002');
    await harness.advance(5 * minute, 20_000);
    samples = await harness.scrape();
    expect(value(samples, 'push_notification_source_up', { source, target })).toBe(0);
    expect(harness.logLines.filter((line) => line.detail === 'Entra ID: invalid_client (AADSTS7000222)')).toHaveLength(1);
  });
});
