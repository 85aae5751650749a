import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { platformName } from '../../src/sources/everlive/feedback.js';
import type { EverliveFault } from '../../src/simulator/everlive/server.js';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import type { SimulatorFault } from '../../src/simulator/notification-hubs/server.js';
import { percentile, round, sampleMemory, writeFaultResults } from '../support/fault-results.js';
import { Harness } from '../support/harness.js';
import { groupBy, sumOf } from '../support/prometheus-text.js';

/**
 * Every upstream fault the issue lists, against both upstreams, driven through the simulators' error
 * injection on one manual clock. For each: the exporter stays up, /metrics keeps answering, source_up
 * goes to 0 and back to 1 when the fault clears, no message is lost (exact totals against the
 * simulator's truth), the request rate to the failing upstream backs off (counted in the fake), and
 * memory stays bounded.
 */

const target = 'orders-target';
const everliveTarget = 'legacy-app';
const messages = 30;
const faultWindowMilliseconds = 10 * 60_000;
/** Answers slower than this time out (the fault cases use 300 ms so they run fast). */
const requestTimeout = '300ms';
const megabyte = 1024 * 1024;

const plan: MessagePlan = {
  notReadyMilliseconds: 1_000,
  enqueuedMilliseconds: 500,
  processingMilliseconds: 2_000,
  finalState: 'Completed',
  outcomes: { ApnsOutcomeCounts: { Success: 20, WrongToken: 2 }, FcmV1OutcomeCounts: { Success: 9, InvalidToken: 1 } },
};

/** A real "billion laughs": ten levels of ten, 10^9 "lol"s if a parser expanded it. */
const billionLaughs =
  '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' +
  Array.from({ length: 9 }, (_, level) => ` <!ENTITY lol${level + 2} "${`&lol${level === 0 ? '' : level + 1};`.repeat(10)}">\n`).join('') +
  ']>\n<NotificationDetails xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><State>&lol10;</State></NotificationDetails>';
/** An external-entity read (XXE): must never be fetched or expanded. */
const externalEntity =
  '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' +
  '<NotificationDetails xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><State>&xxe;</State></NotificationDetails>';
/** Deep nesting without a DOCTYPE (a recursion bomb for naive parsers), under the 1 MiB limit. */
const deepXml = `<NotificationDetails>${'<a>'.repeat(100_000)}${'</a>'.repeat(100_000)}</NotificationDetails>`;
const deepJson = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;

interface FaultCase<F> {
  name: string;
  fault: F | 'down';
  /** The code label push_notification_upstream_requests_total records for it. */
  code: string;
  /** Requests allowed during the fault window when the upstream itself sets the pace (Retry-After). */
  maxRequests?: number;
  /** Peak memory growth allowed while the fault lasts (default 128 MB). */
  memoryLimitMegabytes?: number;
}

const azureCases: FaultCase<SimulatorFault>[] = [
  { name: 'timeout (no answer within requestTimeout)', fault: { kind: 'delay', milliseconds: 2_000 }, code: 'timeout' },
  { name: 'connection reset', fault: { kind: 'reset' }, code: 'network_error' },
  { name: 'connection refused (upstream down)', fault: 'down', code: 'network_error' },
  { name: 'HTTP 500', fault: { kind: 'status', status: 500 }, code: '500' },
  { name: 'HTTP 503 without Retry-After', fault: { kind: 'status', status: 503 }, code: '503' },
  { name: 'HTTP 503 with Retry-After: 20', fault: { kind: 'status', status: 503, retryAfterSeconds: 20 }, code: '503', maxRequests: 8 + 30 },
  { name: 'HTTP 429 with Retry-After: 30', fault: { kind: 'status', status: 429, retryAfterSeconds: 30 }, code: '429' },
  // Asked to wait 15 s each time, it waits exactly that: the first parallel batch (8), then 600 s / 15 s.
  { name: 'HTTP 429 with x-ms-retry-after-ms: 15000', fault: { kind: 'status', status: 429, retryAfterMilliseconds: 15_000 }, code: '429', maxRequests: 8 + 40 },
  { name: 'HTTP 429 without Retry-After', fault: { kind: 'status', status: 429 }, code: '429' },
  { name: 'HTTP 401 (bad key)', fault: { kind: 'status', status: 401 }, code: '401' },
  { name: 'HTTP 403 (not Standard tier)', fault: { kind: 'status', status: 403 }, code: '403' },
  { name: 'slow body (1 byte every 100 ms)', fault: { kind: 'slowBody', chunks: 60, intervalMilliseconds: 100 }, code: 'timeout' },
  { name: 'truncated body (connection closed mid-body)', fault: { kind: 'truncated' }, code: 'network_error' },
  { name: 'malformed XML', fault: { kind: 'malformed' }, code: '200' },
  { name: 'an HTML error page with 200', fault: { kind: 'body', body: '<html><body>Bad gateway</body></html>', contentType: 'text/html' }, code: '200' },
  { name: 'XML entity-expansion bomb (billion laughs)', fault: { kind: 'body', body: billionLaughs }, code: '200' },
  { name: 'XML external entity (XXE)', fault: { kind: 'body', body: externalEntity }, code: '200' },
  { name: 'XML nested 100,000 deep', fault: { kind: 'body', body: deepXml }, code: '200' },
  // Read up to the 1 MiB limit, then dropped: never held whole.
  { name: 'a 50 MB body', fault: { kind: 'huge', bytes: 50 * megabyte }, code: '200', memoryLimitMegabytes: 48 },
];

const everliveCases: FaultCase<EverliveFault>[] = [
  { name: 'timeout (no answer within requestTimeout)', fault: { kind: 'delay', milliseconds: 2_000 }, code: 'timeout' },
  { name: 'connection reset', fault: { kind: 'reset' }, code: 'network_error' },
  { name: 'connection refused (upstream down)', fault: 'down', code: 'network_error' },
  { name: 'HTTP 500', fault: { kind: 'status', status: 500 }, code: '500' },
  { name: 'HTTP 503 without Retry-After', fault: { kind: 'status', status: 503 }, code: '503' },
  { name: 'HTTP 429 with Retry-After: 90', fault: { kind: 'status', status: 429, retryAfterSeconds: 90 }, code: '429' },
  { name: 'HTTP 429 without Retry-After', fault: { kind: 'status', status: 429 }, code: '429' },
  { name: 'HTTP 401 (bad master key)', fault: { kind: 'status', status: 401, errorCode: 301, message: 'Invalid master key' }, code: '401' },
  { name: 'HTTP 403', fault: { kind: 'status', status: 403, errorCode: 302, message: 'Forbidden' }, code: '403' },
  { name: 'slow body (1 byte every 100 ms)', fault: { kind: 'slowBody', chunks: 60, intervalMilliseconds: 100 }, code: 'timeout' },
  { name: 'truncated body (connection closed mid-body)', fault: { kind: 'truncated' }, code: 'network_error' },
  { name: 'malformed JSON', fault: { kind: 'malformed' }, code: '200' },
  { name: 'JSON of the wrong shape', fault: { kind: 'body', body: '{"message":"maintenance","Result":"none"}' }, code: '200' },
  { name: 'an HTML error page with 200', fault: { kind: 'body', body: '<html>Bad gateway</html>', contentType: 'text/html' }, code: '200' },
  { name: 'JSON nested 200,000 deep', fault: { kind: 'body', body: deepJson }, code: '200' },
  // Read up to the 16 MiB limit, then dropped: never held whole.
  { name: 'a 50 MB body', fault: { kind: 'huge', bytes: 50 * megabyte }, code: '200', memoryLimitMegabytes: 64 },
];

interface CaseFigures {
  source: string;
  fault: string;
  code: string;
  /** Requests the fake received (or, when it was down, the exporter counted) during the 10-minute fault. */
  requestsDuringFault: number;
  scrapes: number;
  scrapeMillisecondsP50: number;
  scrapeMillisecondsMax: number;
  peakMemoryGrowthMegabytes: number;
  recovered: boolean;
  lost: number;
}

const figures: CaseFigures[] = [];
const baselines: Record<string, number> = {};

afterAll(() => {
  writeFaultResults('upstream-faults', {
    faultWindowMinutes: faultWindowMilliseconds / 60_000,
    azureMessagesPerCase: messages,
    healthyRequestsInSameWindow: baselines,
    cases: figures,
  });
});

/** Scrapes /metrics and times it (a scrape renders in-memory state; it must answer whatever the upstream does). */
async function timedScrape(harness: Harness, latencies: number[]): Promise<void> {
  const started = performance.now();
  const response = await request(`${harness.exporter.url}/metrics`);
  await response.body.text();
  latencies.push(performance.now() - started);
  expect(response.statusCode).toBe(200);
}

async function expectStillServing(harness: Harness): Promise<void> {
  for (const path of ['/-/healthy', '/-/ready']) {
    const response = await request(`${harness.exporter.url}${path}`);
    expect(response.statusCode, path).toBe(200);
    await response.body.dump();
  }
  // Unexpected errors (a parser that threw something untyped, a poll loop that crashed) never happen.
  const unexpected = harness.logLines.filter((line) => /^(poll loop error|poll failed unexpectedly|Everlive run failed|request failed)$/.test(String(line.msg)));
  expect(unexpected).toEqual([]);
}

function mb(bytes: number): number {
  return round(bytes / megabyte, 1);
}

describe('upstream faults: Azure Notification Hubs', () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  async function submit(count: number): Promise<void> {
    const ids = Array.from({ length: count }, () => harness.simulator.createMessage('orders', plan));
    expect((await harness.post(ids.map((notificationId) => ({ target, notificationId })))).status).toBe(202);
  }

  async function expectExactTotals(): Promise<void> {
    const samples = await harness.scrape();
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { target })).toEqual(harness.simulator.truth('orders').outcomes);
    expect(sumOf(samples, 'push_notification_messages_total', { target, state: 'Completed' })).toBe(messages);
    expect(sumOf(samples, 'push_notification_tracked_messages', { target })).toBe(0);
    expect(sumOf(samples, 'push_notification_tracking_expired_total', { target })).toBe(0);
  }

  it('healthy baseline: requests in the same window without a fault', async () => {
    harness = await Harness.start({ hubSettings: { requestTimeout } });
    await harness.advance(1_000);
    const from = harness.clock.now();
    await submit(messages);
    await harness.advance(faultWindowMilliseconds, 5_000);
    baselines.azure = harness.simulator.requests.filter((entry) => entry.at >= from).length;
    await expectExactTotals();
  });

  it.each(azureCases)('$name: keeps serving, backs off, recovers, loses nothing', async ({ name, fault, code, maxRequests, memoryLimitMegabytes }) => {
    harness = await Harness.start({ hubSettings: { requestTimeout } });
    await harness.advance(1_000);
    const port = Number(new URL(harness.simulator.url).port);
    if (fault === 'down') await harness.simulator.stop();
    else harness.simulator.injectFault('orders', fault);
    const requestsBefore = harness.simulator.requests.length;
    const upstreamBefore = sumOf(await harness.scrape(), 'push_notification_upstream_requests_total', { target });
    await submit(messages);

    const latencies: number[] = [];
    const memory = sampleMemory();
    for (let elapsed = 0; elapsed < faultWindowMilliseconds; elapsed += 30_000) {
      await harness.advance(30_000, 5_000);
      await timedScrape(harness, latencies);
    }
    const { peakGrowthBytes } = memory.stop();

    let samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(0);
    expect(sumOf(samples, 'push_notification_upstream_requests_total', { target, code })).toBeGreaterThan(0);
    // Nothing acknowledged is dropped while the upstream fails.
    expect(sumOf(samples, 'push_notification_tracked_messages', { target })).toBe(messages);
    const requestsDuringFault =
      fault === 'down'
        ? sumOf(samples, 'push_notification_upstream_requests_total', { target }) - upstreamBefore
        : harness.simulator.requests.length - requestsBefore;
    // Backing off: far fewer requests than one per message per retry; at most about one per message
    // in ten minutes (the first parallel batch, then one at a time with growing pauses).
    expect(requestsDuringFault).toBeGreaterThan(0);
    expect(requestsDuringFault).toBeLessThanOrEqual(maxRequests ?? messages + 10);
    // Memory stays bounded: a 50 MB answer is never held, the body limit (1 MiB) stops reading it.
    expect(peakGrowthBytes).toBeLessThan((memoryLimitMegabytes ?? 128) * megabyte);
    await expectStillServing(harness);

    if (fault === 'down') await harness.simulator.start(port);
    else harness.simulator.clearFaults();
    await harness.advance(12 * 60_000, 5_000);
    samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(1);
    await expectExactTotals();
    await expectStillServing(harness);

    figures.push({
      source: 'azure_notification_hubs',
      fault: name,
      code,
      requestsDuringFault,
      scrapes: latencies.length,
      scrapeMillisecondsP50: round(percentile(latencies, 0.5)),
      scrapeMillisecondsMax: round(Math.max(...latencies)),
      peakMemoryGrowthMegabytes: mb(peakGrowthBytes),
      recovered: true,
      lost: 0,
    });
  });
});

describe('upstream faults: Everlive', () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  function expected(): Map<string, number> {
    const truth = new Map<string, number>();
    for (const [key, value] of harness.everliveSimulator.truth()) {
      const [platformKey, outcome] = key.split('/') as [string, string];
      truth.set(`${platformName(platformKey)}/${outcome}`, value);
    }
    return truth;
  }

  async function outcomes(): Promise<Map<string, number>> {
    return groupBy(await harness.scrape(), 'push_notification_outcomes_total', ['platform', 'outcome'], { source: 'everlive', target: everliveTarget });
  }

  /** 60 notifications with feedback, read once while healthy; then more feedback arrives during the fault. */
  async function prepare(): Promise<string[]> {
    harness = await Harness.start({ hubs: [], everlive: { requestTimeout, pageSize: 50 } });
    const everlive = harness.everliveSimulator;
    const ids = Array.from({ length: 60 }, (_, index) => everlive.createNotification({ platforms: index % 2 === 0 ? ['4'] : ['3', '4'] }));
    for (const id of ids) everlive.addFeedback(id, '4', { Sent: 5, Failed: 1 });
    await harness.runEverlive();
    expect(await outcomes()).toEqual(expected());
    return ids;
  }

  /** The schedule's runs every 30 s over the window (runs are skipped while the poller is paused). */
  async function runSchedule(windowMilliseconds: number, latencies: number[], grow?: (tick: number) => void): Promise<void> {
    for (let tick = 0; tick * 30_000 < windowMilliseconds; tick += 1) {
      harness.clock.advance(30_000);
      grow?.(tick);
      await harness.runEverlive();
      await timedScrape(harness, latencies);
    }
  }

  it('healthy baseline: requests in the same window without a fault', async () => {
    const ids = await prepare();
    const before = harness.everliveSimulator.requests.length;
    await runSchedule(faultWindowMilliseconds, [], (tick) => harness.everliveSimulator.addFeedback(ids[tick] as string, '3', { Sent: 2, Deactivated: 1 }));
    baselines.everlive = harness.everliveSimulator.requests.length - before;
    expect(await outcomes()).toEqual(expected());
  });

  it.each(everliveCases)('$name: keeps serving, backs off, recovers, loses nothing', async ({ name, fault, code, memoryLimitMegabytes }) => {
    const ids = await prepare();
    const everlive = harness.everliveSimulator;
    const port = Number(new URL(everlive.url).port);
    if (fault === 'down') await everlive.stop();
    else everlive.injectFault(fault);
    const before = everlive.requests.length;
    const upstreamBefore = sumOf(await harness.scrape(), 'push_notification_upstream_requests_total', { target: everliveTarget });

    const latencies: number[] = [];
    const memory = sampleMemory();
    // Feedback keeps arriving upstream while the exporter cannot read it.
    await runSchedule(faultWindowMilliseconds, latencies, (tick) => everlive.addFeedback(ids[tick] as string, '3', { Sent: 2, Deactivated: 1 }));
    const { peakGrowthBytes } = memory.stop();

    let samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_source_up', { source: 'everlive', target: everliveTarget })).toBe(0);
    expect(sumOf(samples, 'push_notification_upstream_requests_total', { target: everliveTarget, code })).toBeGreaterThan(0);
    const requestsDuringFault =
      fault === 'down'
        ? sumOf(samples, 'push_notification_upstream_requests_total', { target: everliveTarget }) - upstreamBefore
        : everlive.requests.length - before;
    expect(requestsDuringFault).toBeGreaterThan(0);
    // Never more than one request per scheduled run (a healthy run may read several pages).
    expect(requestsDuringFault).toBeLessThanOrEqual(faultWindowMilliseconds / 30_000);
    // The Everlive body limit is 16 MiB: a 50 MB answer is cut off, never held whole.
    expect(peakGrowthBytes).toBeLessThan((memoryLimitMegabytes ?? 128) * megabyte);
    await expectStillServing(harness);

    if (fault === 'down') await everlive.start(port);
    else everlive.clearFaults();
    await runSchedule(12 * 60_000, latencies);
    samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_source_up', { source: 'everlive', target: everliveTarget })).toBe(1);
    expect(await outcomes()).toEqual(expected());
    expect(sumOf(samples, 'push_notification_messages_total', { source: 'everlive', target: everliveTarget })).toBe(60);
    await expectStillServing(harness);

    figures.push({
      source: 'everlive',
      fault: name,
      code,
      requestsDuringFault,
      scrapes: latencies.length,
      scrapeMillisecondsP50: round(percentile(latencies, 0.5)),
      scrapeMillisecondsMax: round(Math.max(...latencies)),
      peakMemoryGrowthMegabytes: mb(peakGrowthBytes),
      recovered: true,
      lost: 0,
    });
  });
});
