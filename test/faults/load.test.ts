import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import { NotificationHubsSimulator } from '../../src/simulator/notification-hubs/server.js';
import { seededRandom } from '../../src/simulator/random.js';
import { listAllNotifications } from '../support/api.js';
import { ExporterProcess } from '../support/exporter-process.js';
import { percentile, round, writeFaultResults } from '../support/fault-results.js';
import { runLoadClient } from '../support/load-client.js';
import { groupBy, parsePrometheusText, sumOf, type Sample } from '../support/prometheus-text.js';
import { waitFor } from '../support/wait.js';

const token = 'load-test-token-0123456789abcdef';
const target = 'orders-target';
const loadSeconds = 15;
const requestsPerSecond = 40;
const itemsPerRequest = 10;

/**
 * Sustained intake from a second process on loopback, for a bounded time, while the exporter (a
 * real process, default settings including the rate limit) polls the simulator for the messages
 * already accepted. No errors, no lost IDs, exact totals, and /metrics answers throughout.
 */
describe('load: sustained intake while polling', () => {
  const random = seededRandom(515);
  let simulator: NotificationHubsSimulator;
  let folder: string;
  let exporter: ExporterProcess;
  let url: string;
  const agent = new Agent({ connections: 2 });

  beforeAll(async () => {
    simulator = new NotificationHubsSimulator({
      namespace: 'contoso',
      hubs: [{ name: 'orders', keys: { DefaultListenSharedAccessSignature: 'load-test-key' } }],
      random,
    });
    await simulator.start();
    folder = mkdtempSync(join(tmpdir(), 'pne-load-'));
    const configPath = join(folder, 'config.yaml');
    writeFileSync(
      configPath,
      JSON.stringify({
        server: { listen: '127.0.0.1:0', apiTokens: [token] },
        storage: { path: join(folder, 'state.db') },
        azureNotificationHubs: [{ name: target, connectionString: simulator.connectionString('orders'), hub: 'orders', endpoint: simulator.url }],
      }),
    );
    exporter = ExporterProcess.start(['--config', configPath]);
    url = await exporter.waitForStart();
  });

  afterAll(async () => {
    exporter?.kill('SIGTERM');
    await exporter?.exit();
    await agent.close();
    await simulator?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  function plan(): MessagePlan {
    const between = (low: number, high: number) => Math.round(low + random() * (high - low));
    return {
      notReadyMilliseconds: between(200, 3_000),
      enqueuedMilliseconds: between(100, 500),
      processingMilliseconds: between(200, 6_000),
      finalState: random() < 0.03 ? 'Abandoned' : 'Completed',
      outcomes: { ApnsOutcomeCounts: { Success: between(1, 100), WrongToken: between(0, 3) }, FcmV1OutcomeCounts: { Success: between(1, 80) } },
    };
  }

  async function scrape(): Promise<{ samples: Sample[]; milliseconds: number }> {
    const started = performance.now();
    const response = await request(`${url}/metrics`, { dispatcher: agent });
    const text = await response.body.text();
    expect(response.statusCode).toBe(200);
    return { samples: parsePrometheusText(text), milliseconds: performance.now() - started };
  }

  it(`takes ${requestsPerSecond} requests/s of ${itemsPerRequest} IDs for ${loadSeconds} s with no error, no lost ID and /metrics answering`, async () => {
    // IDs accepted before the load become due for polling while it runs (first poll 10 s after intake).
    const preload = Array.from({ length: 1_500 }, () => simulator.createMessage('orders', plan()));
    for (let index = 0; index < preload.length; index += 500) {
      const response = await request(`${url}/api/v1/notifications`, {
        dispatcher: agent,
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(preload.slice(index, index + 500).map((notificationId) => ({ target, notificationId }))),
      });
      expect(response.statusCode).toBe(202);
      await response.body.dump();
    }
    await new Promise((resolve) => setTimeout(resolve, 7_000));

    const ids = Array.from({ length: loadSeconds * requestsPerSecond * itemsPerRequest }, () => simulator.createMessage('orders', plan()));
    const idsFile = join(folder, 'ids.txt');
    writeFileSync(idsFile, ids.join('\n'));
    const before = await scrape();
    const rssBefore = sumOf(before.samples, 'process_resident_memory_bytes');
    const pollsBefore = simulator.requests.length;

    const scrapeLatencies: number[] = [];
    let peakRss = rssBefore;
    let scraping = true;
    const scraper = (async () => {
      while (scraping) {
        const { samples, milliseconds } = await scrape();
        scrapeLatencies.push(milliseconds);
        peakRss = Math.max(peakRss, sumOf(samples, 'process_resident_memory_bytes'));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    const load = await runLoadClient({
      url,
      token,
      target,
      idsFile,
      resultFile: join(folder, 'load-result.json'),
      seconds: loadSeconds,
      requestsPerSecond,
      itemsPerRequest,
      connections: 4,
    });
    const pollsDuringLoad = simulator.requests.length - pollsBefore;
    scraping = false;
    await scraper;

    expect(load.errors).toEqual({});
    expect(load.duplicates).toBe(0);
    expect(load.accepted).toBe(load.acknowledgedIds.length);
    expect(load.accepted).toBeGreaterThan(0.9 * ids.length);
    // Polling really ran during the load.
    expect(pollsDuringLoad).toBeGreaterThan(500);

    // Every acknowledged ID is tracked or finished, and once polling is done the totals are exact.
    const acknowledged = new Set([...preload, ...load.acknowledgedIds]);
    const samples = await waitFor(
      async () => {
        const { samples: current } = await scrape();
        return sumOf(current, 'push_notification_tracked_messages', { target }) === 0 ? current : undefined;
      },
      { description: 'every message to finish', timeoutMilliseconds: 90_000, intervalMilliseconds: 500 },
    );
    expect(sumOf(samples, 'push_notification_intake_notifications_total', { result: 'accepted' })).toBe(acknowledged.size);
    expect(sumOf(samples, 'push_notification_intake_notifications_total', { result: 'rejected' })).toBe(0);
    expect(sumOf(samples, 'push_notification_http_requests_refused_total')).toBe(0);
    const known = await listAllNotifications(url, token, agent);
    expect([...acknowledged].filter((id) => !known.has(id))).toEqual([]);
    expect([...known.values()].filter((state) => !['Completed', 'Abandoned'].includes(state))).toEqual([]);
    // IDs the client never got to are unknown to the exporter: the truth is over the acknowledged ones.
    const truth = simulator.truth('orders', (id) => acknowledged.has(id));
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { target })).toEqual(truth.outcomes);
    expect(sumOf(samples, 'push_notification_messages_total', { target, state: 'Completed' })).toBe(truth.finalStates.get('Completed') ?? 0);
    expect(sumOf(samples, 'push_notification_messages_total', { target, state: 'Abandoned' })).toBe(truth.finalStates.get('Abandoned') ?? 0);
    expect(sumOf(samples, 'push_notification_tracking_expired_total', { target })).toBe(0);
    const rssAfter = sumOf(samples, 'process_resident_memory_bytes');
    expect(peakRss).toBeLessThan(512 * 1024 * 1024);

    writeFaultResults('load', {
      loadSeconds: round(load.seconds, 1),
      targetRequestsPerSecond: requestsPerSecond,
      itemsPerRequest,
      connections: 4,
      requests: load.requests,
      idsAccepted: load.accepted,
      idsPerSecond: round(load.accepted / load.seconds, 0),
      errors: Object.values(load.errors).reduce((total, count) => total + count, 0),
      lostIds: 0,
      intakeLatencyMilliseconds: { p50: round(load.latencyMilliseconds.p50), p99: round(load.latencyMilliseconds.p99), max: round(load.latencyMilliseconds.max) },
      upstreamPollsDuringLoad: pollsDuringLoad,
      metricsScrapesDuringLoad: scrapeLatencies.length,
      metricsLatencyMilliseconds: { p50: round(percentile(scrapeLatencies, 0.5)), p99: round(percentile(scrapeLatencies, 0.99)), max: round(Math.max(...scrapeLatencies)) },
      residentMemoryMegabytes: { before: round(rssBefore / 1048576), peak: round(peakRss / 1048576), afterAllFinished: round(rssAfter / 1048576) },
      messagesTracked: acknowledged.size,
    });
  }, 180_000);
});
