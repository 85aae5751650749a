import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { metricNames } from '../../src/metrics/names.js';
import { renderOpenMetrics } from '../../src/metrics/openmetrics.js';
import { Harness } from '../support/harness.js';
import { parsePrometheusText, sumOf } from '../support/prometheus-text.js';

/**
 * /metrics reuses the rendered lines of the durable families until they change (scrape-renderer.ts).
 * These prove the reuse is never seen: every scrape equals a fresh render of the same state, and
 * what changed between two scrapes (a committed count, a gauge, an exemplar) shows in the second,
 * in both formats, plain and gzip.
 */
const openMetricsAccept = 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5';
const variants = [
  { name: 'text', accept: 'text/plain;version=0.0.4', gzip: false },
  { name: 'text, gzip', accept: 'text/plain;version=0.0.4', gzip: true },
  { name: 'OpenMetrics', accept: openMetricsAccept, gzip: false },
  { name: 'OpenMetrics, gzip', accept: openMetricsAccept, gzip: true },
] as const;
type Variant = (typeof variants)[number];

const orders = { source: 'azure_notification_hubs', target: 'orders-target' };

describe('/metrics is always as fresh as an uncached render', () => {
  let harness: Harness;

  const scrape = async (variant: Pick<Variant, 'accept' | 'gzip'>): Promise<string> => {
    const response = await request(`${harness.exporter.url}/metrics`, {
      headers: { accept: variant.accept, ...(variant.gzip ? { 'accept-encoding': 'gzip' } : {}) },
    });
    const body = Buffer.from(await response.body.arrayBuffer());
    expect(response.headers['content-encoding']).toBe(variant.gzip ? 'gzip' : undefined);
    return (variant.gzip ? gunzipSync(body) : body).toString('utf8');
  };
  /** Every variant once, so each has rendered (and kept) every family before the change under test. */
  const scrapeAll = async () => Promise.all(variants.map(async (variant) => ({ variant, text: await scrape(variant) })));
  /** OpenMetrics names counter samples the same; its exemplar suffix is cut before parsing. */
  const samplesOf = (text: string) => parsePrometheusText(text.replace(/ # \{[^}]*\} \S+ \S+$/gm, '').replace(/^# EOF$/m, ''));
  const sendMessage = async (outcomes: Record<string, Record<string, number>>) => {
    const id = harness.simulator.createMessage('orders', {
      notReadyMilliseconds: 1_000,
      enqueuedMilliseconds: 500,
      processingMilliseconds: 1_000,
      finalState: 'Completed',
      outcomes,
    });
    expect((await harness.post({ target: 'orders-target', notificationId: id })).status).toBe(202);
    return id;
  };

  beforeEach(async () => {
    harness = await Harness.start();
    await sendMessage({ ApnsOutcomeCounts: { Success: 5, WrongToken: 1 } });
    await harness.advance(20_000);
  });
  afterEach(async () => harness.close());

  it('shows a count committed between two scrapes in the second, in every format', async () => {
    const apnsSuccess = { ...orders, platform: 'apns', outcome: 'Success' };
    for (const { variant, text } of await scrapeAll()) {
      expect(sumOf(samplesOf(text), metricNames.outcomes, apnsSuccess), variant.name).toBe(5);
    }
    await sendMessage({ ApnsOutcomeCounts: { Success: 3 }, WnsOutcomeCounts: { Dropped: 2 } });
    await harness.advance(20_000);
    for (const { variant, text } of await scrapeAll()) {
      const samples = samplesOf(text);
      expect(sumOf(samples, metricNames.outcomes, apnsSuccess), variant.name).toBe(8);
      expect(sumOf(samples, metricNames.outcomes, { ...orders, platform: 'wns', outcome: 'Dropped' }), variant.name).toBe(2);
      expect(sumOf(samples, metricNames.messages, { ...orders, state: 'Completed' }), variant.name).toBe(2);
      expect(sumOf(samples, `${metricNames.queueDuration}_count`, orders), variant.name).toBe(2);
    }
  });

  it('shows a gauge read at scrape time as it is now, though no counter of its family moved', async () => {
    const pending = { ...orders, state: 'Pending' };
    for (const { variant, text } of await scrapeAll()) expect(sumOf(samplesOf(text), metricNames.trackedMessages, pending), variant.name).toBe(0);
    // Accepted and waiting for its first poll (10 s after intake): tracked as Pending.
    await sendMessage({ ApnsOutcomeCounts: { Success: 1 } });
    for (const { variant, text } of await scrapeAll()) expect(sumOf(samplesOf(text), metricNames.trackedMessages, pending), variant.name).toBe(1);
    harness.exporter.metrics.sourceLastSuccess.set(orders, 1234);
    for (const { variant, text } of await scrapeAll()) expect(sumOf(samplesOf(text), metricNames.sourceLastSuccess, orders), variant.name).toBe(1234);
  });

  it('shows exemplars in OpenMetrics, and an exemplar set after its counter last moved', async () => {
    const wrongToken = `${metricNames.outcomes}{source="azure_notification_hubs",target="orders-target",platform="apns",outcome="WrongToken"} 1`;
    const [first] = await Promise.all([scrape(variants[2]), scrape(variants[3])]);
    expect(first).toMatch(new RegExp(`^${escapeRegExp(wrongToken)} # \\{notification_id="[^"]+"\\} 1 \\d+\\.\\d{3}$`, 'm'));
    // The poller sets exemplars next to the commit; one set with no count moving must still show.
    const labels = { ...orders, platform: 'apns', outcome: 'WrongToken' };
    harness.exporter.metrics.exemplars.set(metricNames.outcomes, labels, { notificationId: 'later-exemplar', value: 1, timestamp: 1_772_366_400 });
    for (const variant of [variants[2], variants[3]]) {
      expect(await scrape(variant), variant.name).toContain(`${wrongToken} # {notification_id="later-exemplar"} 1 1772366400.000\n`);
    }
    // The text format never carries exemplars.
    expect(await scrape(variants[0])).toContain(`${wrongToken}\n`);
  });

  it('is byte for byte what prom-client and the uncached OpenMetrics renderer write, before and after a change', async () => {
    const { registry, exemplars } = harness.exporter.metrics;
    const counters = harness.exporter.store.counters;
    // More series than one rendered piece holds (256), and label values and numbers that need escaping or spelling.
    for (let index = 0; index < 600; index += 1) counters.add(metricNames.outcomes, { ...orders, platform: 'apns', outcome: `Outcome${index}` }, index);
    counters.add(metricNames.outcomes, { ...orders, platform: 'wns', outcome: 'quote " backslash \\ newline \n ünïcödé' }, 0.1 + 0.2);
    counters.add(metricNames.outcomes, { ...orders, platform: 'wns', outcome: 'not a number' }, Number.NaN);
    counters.add(metricNames.outcomes, { ...orders, platform: 'wns', outcome: 'infinite' }, Number.POSITIVE_INFINITY);
    counters.add(metricNames.outcomes, { ...orders, platform: 'wns', outcome: 'large' }, 2 ** 60);
    const compare = async () => {
      const [text, textGzip, openMetrics, openMetricsGzip] = await Promise.all(variants.map(scrape));
      const expectedText = await registry.metrics();
      const expectedOpenMetrics = await renderOpenMetrics(registry, exemplars);
      expect(text).toBe(expectedText);
      expect(textGzip).toBe(expectedText);
      expect(openMetrics).toBe(expectedOpenMetrics);
      expect(openMetricsGzip).toBe(expectedOpenMetrics);
    };
    await compare();
    // One series in the middle of the family, one new at its end, and a family that had no series.
    counters.add(metricNames.outcomes, { ...orders, platform: 'apns', outcome: 'Outcome300' }, 7);
    counters.add(metricNames.outcomes, { ...orders, platform: 'apns', outcome: 'Outcome600' }, 1);
    counters.add(metricNames.pnsErrors, { ...orders, platform: 'apns', error: 'InvalidToken' }, 1);
    await compare();
    expect(await scrape(variants[0])).toContain(`${metricNames.outcomes}{source="azure_notification_hubs",target="orders-target",platform="apns",outcome="Outcome300"} 307\n`);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
