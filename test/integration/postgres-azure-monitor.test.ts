import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { monitorResourceId } from '../support/azure-monitor.js';
import { Harness } from '../support/harness.js';
import { PostgresCluster, postgresUnavailable } from '../support/postgres.js';
import { sumOf, type Sample } from '../support/prometheus-text.js';
import { waitFor } from '../support/wait.js';

const minute = 60_000;
const settleDelay = 5 * minute;
const source = 'azure_monitor';
const target = 'orders-target';
const monitorSettings = { settleDelay: '5m', initialLookback: '30m' };
/** The Azure Monitor counters checked (family, labels, the simulator's metric). */
const counters: [string, Record<string, string>, string][] = [
  ['push_notification_outcomes_total', { source, target, platform: 'apns', outcome: 'Success' }, 'outgoing.apns.success'],
  ['push_notification_outcomes_total', { source, target, platform: 'fcmv1', outcome: 'InvalidCredentials' }, 'outgoing.fcmv1.invalidcredentials'],
  ['push_notification_hub_pushes_total', { source, target }, 'notificationhub.pushes'],
  ['push_notification_hub_sends_total', { source, target }, 'incoming'],
  ['push_notification_hub_outgoing_total', { source, target, result: 'success' }, 'outgoing.allpns.success'],
];

/**
 * Azure Monitor's platform metrics are hub-wide: with two replicas on one PostgreSQL, one reads a
 * hub at a time (claimTarget, and a commit fenced on owning it), so Σ over replicas of the counters
 * is the hub's once, and the gauges (source_up, scheduled.pending) come from the reader alone. When
 * the reader stops (its clean stop releases the hub), the other takes over from the stored cursors
 * without counting a minute twice. Two in-process exporters on one manual clock, against the fake
 * Entra ID + ARM.
 */
describe.skipIf(postgresUnavailable())('Azure Monitor on PostgreSQL with two replicas', () => {
  let cluster: PostgresCluster;
  let first: Harness | undefined;
  let second: Harness | undefined;
  beforeAll(async () => {
    cluster = await PostgresCluster.start();
  }, 120_000);
  afterAll(() => cluster?.stop());
  afterEach(async () => {
    await second?.close();
    await first?.close();
    first = second = undefined;
  });

  it('reads each settled minute once across the fleet, shows the gauges once, and hands over without counting a minute twice', async () => {
    const postgresUrl = cluster.createDatabase('monitor_fleet');
    const a = (first = await Harness.start({ postgresUrl, replicaId: 'replica-a', azureMonitor: monitorSettings, azureMonitorVisibility: { noTotalMilliseconds: 2 * minute, partialMilliseconds: 2 * minute } }));
    const b = (second = await Harness.start({ postgresUrl, replicaId: 'replica-b', azureMonitor: monitorSettings, peer: a }));
    const monitor = a.monitorSimulator!;
    let aRunning = true;
    const running = () => (aRunning ? [a, b] : [b]);
    const scrapes = async () => Promise.all(running().map(async (harness) => [harness, await harness.scrape()] as const));
    /** Both exporters' timers fire on the one clock; each step waits for both to finish. */
    const advance = async (milliseconds: number, step: number) => {
      for (let elapsed = 0; elapsed < milliseconds; elapsed += step) {
        a.clock.advance(step);
        await Promise.all(running().map((harness) => harness.exporter.whenIdle()));
      }
    };
    const send = (round: number) => {
      monitor.metrics.addPush(monitorResourceId, 'apns', 'success', 10 + round, a.clock.now());
      monitor.metrics.addPush(monitorResourceId, 'fcmv1', 'invalidcredentials', 1, a.clock.now());
      monitor.metrics.add(monitorResourceId, 'incoming', 11 + round, a.clock.now());
      monitor.metrics.setPending(monitorResourceId, 100 + round);
    };
    /** Σ over the running replicas of each counter equals every minute settled by now, exactly. */
    const expectFleetExact = async (frozen: Sample[] = []) => {
      const all = await scrapes();
      const settled = Math.floor((a.clock.now() - settleDelay) / minute) * minute;
      for (const [family, labels, metric] of counters) {
        const fleet = [frozen, ...all.map(([, samples]) => samples)].reduce((total, samples) => total + sumOf(samples, family, labels), 0);
        expect(fleet, `${family} ${JSON.stringify(labels)}`).toBe(monitor.metrics.settledTotal(monitorResourceId, metric, settled));
      }
      return all;
    };
    /** Which running replicas show the hub's gauges of shared state. */
    const reporters = async (family: string) =>
      (await scrapes()).filter(([, samples]) => samples.some((sample) => sample.name === family && sample.labels.source === source && sample.labels.target === target)).map(([harness]) => harness);

    monitor.metrics.addPush(monitorResourceId, 'apns', 'success', 40, a.clock.now() - 20 * minute);
    for (let round = 0; round < 8; round += 1) {
      send(round);
      await advance(minute, 20_000);
      await expectFleetExact();
    }
    // replica-a started first and reads the hub; replica-b skips its rounds and shows no gauges.
    expect(await reporters('push_notification_source_up')).toEqual([a]);
    expect(await reporters('push_notification_hub_scheduled_pending')).toEqual([a]);
    expect(sumOf(await a.scrape(), 'push_notification_hub_scheduled_pending', { source, target })).toBe(107);
    expect(sumOf(await b.scrape(), 'push_notification_outcomes_total', { source })).toBe(0);
    const readByA = monitor.queries.length;
    expect(readByA).toBeGreaterThan(0);

    // The reader stops cleanly: it releases the hub, and its totals stay as they were (frozen here,
    // as Prometheus keeps them) while it is away.
    const lastOfA = await a.scrape();
    await a.exporter.stop();
    aRunning = false;
    for (let round = 8; round < 16; round += 1) {
      send(round);
      await advance(minute, 20_000);
      await expectFleetExact(lastOfA);
    }
    // Every minute settled meanwhile was counted by replica-b: it took over.
    expect(sumOf(await b.scrape(), 'push_notification_outcomes_total', { source, target, platform: 'apns', outcome: 'Success' })).toBeGreaterThan(0);
    // Its gauges follow once it reports the hub (its list of reported targets is refreshed every 5 s of real time).
    await waitFor(async () => ((await reporters('push_notification_source_up')).includes(b) ? true : undefined), {
      description: 'replica-b to report the hub',
      timeoutMilliseconds: 20_000,
    });
    expect(sumOf(await b.scrape(), 'push_notification_hub_scheduled_pending', { source, target })).toBe(115);

    // replica-a comes back under the same ID: it continues its own totals, does not read the hub
    // (replica-b does), and the live sum over both is the hub's, exactly.
    await a.startExporter();
    aRunning = true;
    for (let round = 16; round < 20; round += 1) {
      send(round);
      await advance(minute, 20_000);
      await expectFleetExact();
    }
    await advance(8 * minute, 30_000);
    const final = await expectFleetExact();
    expect(await reporters('push_notification_source_up')).toEqual([b]);
    expect(await reporters('push_notification_hub_scheduled_pending')).toEqual([b]);
    const apns = final.map(([, samples]) => sumOf(samples, 'push_notification_outcomes_total', { source, target, platform: 'apns', outcome: 'Success' }));
    expect(apns.reduce((total, value) => total + value, 0)).toBe(40 + Array.from({ length: 20 }, (_, round) => 10 + round).reduce((total, value) => total + value, 0));
    expect(apns.every((value) => value > 0)).toBe(true);
  }, 120_000);
});
