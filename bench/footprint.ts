/**
 * Phase 4, footprint: the built exporter as its own process. RSS and heap with 0, 10k and 100k
 * messages tracked (accepted through the intake API; the upstream asks it to wait, so nothing is
 * polled), start-up time with 100k persisted, and /metrics at the largest label space the caps allow.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { RpcChild } from './lib/child.js';
import { ExporterProcess, prometheusAccept, sumSamples, type MemorySample } from './lib/exporter-process.js';
import { startPausedUpstream } from './lib/paused-upstream.js';
import { allCollections, intakeToken } from './lib/plans.js';
import { percentile, sleep } from './lib/stats.js';
import { exporterProcessConfig } from './intake.js';

export interface FootprintResult {
  memory: { tracked: number; label: string; sample: MemorySample }[];
  startupMilliseconds: number;
  resumedMessages: number;
  stopMilliseconds: number;
  /** Messages polled to the end (fetched, counted, stored, finished) before any memory sample. */
  polledBefore: number;
  /** The exporter's CPU (user + system) from the fresh sample to the one after the throughput phase: intake and polling of polledBefore messages. */
  throughputCpuMilliseconds: number;
  /**
   * A tracked message's share of memory, from the samples at 0 and at the largest count (both after
   * the throughput phase): live heap after a full GC, and RSS, per tracked message.
   */
  bytesPerTrackedMessage: { liveHeap: number; rss: number };
  metrics: {
    targets: number;
    platforms: number;
    outcomeValuesPerTarget: number;
    outcomeSeries: number;
    samples: number;
    bytes: number;
    scrapes: number;
    /** Plain text format (text/plain; version=0.0.4). */
    milliseconds: { p50: number; p99: number; max: number };
    /** OpenMetrics, as Prometheus asks for it by default (with exemplars). */
    openMetricsMilliseconds: { p50: number; p99: number; max: number };
    openMetricsBytes: number;
    /** The same two with `Accept-Encoding: gzip`, as Prometheus scrapes. */
    gzipMilliseconds: { p50: number; p99: number; max: number };
    gzipOpenMetricsMilliseconds: { p50: number; p99: number; max: number };
    gzipBytes: number;
    gzipOpenMetricsBytes: number;
  };
}

async function postIds(url: string, target: string, prefix: string, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 1000) {
    const items = [];
    for (let index = start; index < Math.min(to, start + 1000); index += 1) items.push({ target, notificationId: `${prefix}${index}` });
    const response = await request(`${url}/api/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${intakeToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(items),
    });
    const text = await response.body.text();
    if (response.statusCode !== 202) throw new Error(`intake answered ${response.statusCode}: ${text}`);
  }
}

async function settledMemory(exporter: ExporterProcess): Promise<MemorySample> {
  await sleep(1_000);
  return exporter.memory();
}

/**
 * The process first does the work it exists for (a throughput phase: `polled` messages fetched from
 * the simulator, counted, stored and finished), as a long-running exporter has, and only then
 * tracks messages that wait (hub 'bench', whose upstream asks it to wait, so nothing is polled).
 */
export async function measureFootprint(folder: string, largest = 100_000, polled = 20_000): Promise<FootprintResult> {
  const trackedFolder = join(folder, 'tracked');
  mkdirSync(trackedFolder, { recursive: true });
  const upstream = await startPausedUpstream();
  const simulator = RpcChild.start('simulator-process');
  const memory: FootprintResult['memory'] = [];
  let startupMilliseconds = 0;
  let resumedMessages = 0;
  let stopMilliseconds = 0;
  try {
    const { url } = await simulator.call<{ url: string }>('start', { hubs: ['busy'] });
    await simulator.call('create', { hub: 'busy', prefix: 'busy-', count: polled, seed: 5, kind: 'ready-terminal' });
    const config = exporterProcessConfig(trackedFolder, upstream.url);
    const busy = { ...config.azureNotificationHubs[0], name: 'busy', hub: 'busy', endpoint: url };
    const withBusy = { ...config, azureNotificationHubs: [...config.azureNotificationHubs, busy] };
    const first = ExporterProcess.start(trackedFolder, withBusy);
    try {
      await first.waitForStart();
      memory.push({ tracked: 0, label: '0 tracked, fresh', sample: await settledMemory(first) });
      await postIds(first.url, 'busy', 'busy-', 0, polled);
      // The first poll comes 10 s after intake; then all are polled at full speed.
      const deadline = performance.now() + 300_000;
      while (sumSamples(await first.scrape(), 'push_notification_messages_total') < polled) {
        if (performance.now() > deadline) throw new Error(`the ${polled} messages of the throughput phase were not counted within 300 s`);
        await sleep(500);
      }
      const polledLabel = `${number(polled / 1000)}k polled`;
      memory.push({ tracked: 0, label: `0 tracked, after ${polledLabel}`, sample: await settledMemory(first) });
      await postIds(first.url, 'bench', 'footprint-', 0, 10_000);
      memory.push({ tracked: 10_000, label: `10k tracked, after ${polledLabel}`, sample: await settledMemory(first) });
      await postIds(first.url, 'bench', 'footprint-', 10_000, largest);
      memory.push({ tracked: largest, label: `${largest / 1000}k tracked, after ${polledLabel}`, sample: await settledMemory(first) });
      const tracked = sumSamples(await first.scrape(), 'push_notification_tracked_messages');
      if (tracked !== largest) throw new Error(`expected ${largest} tracked messages, the exporter shows ${tracked}`);
      stopMilliseconds = await first.stop();
    } finally {
      first.kill();
    }
    const second = ExporterProcess.start(trackedFolder, withBusy);
    try {
      startupMilliseconds = await second.waitForStart();
      resumedMessages = Number(second.logLines().find((line) => line.msg === 'resumed tracking')?.messages ?? 0);
      memory.push({ tracked: largest, label: `${largest / 1000}k after restart`, sample: await settledMemory(second) });
      await second.stop();
    } finally {
      second.kill();
    }
  } finally {
    await upstream.close();
    await simulator.stop();
  }
  const idle = memory[1]?.sample;
  const full = memory[3]?.sample;
  const perMessage = (field: 'liveHeapBytes' | 'rssBytes') => (idle && full ? (full[field] - idle[field]) / largest : Number.NaN);
  return {
    memory,
    startupMilliseconds,
    resumedMessages,
    stopMilliseconds,
    polledBefore: polled,
    throughputCpuMilliseconds: memory[0] && idle ? idle.cpuMilliseconds - memory[0].sample.cpuMilliseconds : Number.NaN,
    bytesPerTrackedMessage: { liveHeap: perMessage('liveHeapBytes'), rss: perMessage('rssBytes') },
    metrics: await measureMetrics(join(folder, 'metrics')),
  };
}

const number = (value: number) => value.toLocaleString('en-US', { maximumFractionDigits: 0 });

/**
 * GET /metrics until its last byte, as Prometheus asks (its Accept header, gzip offered when `gzip`);
 * returns the size on the wire. Read as bytes: the exporter's answer is timed, not the bench
 * client decoding a megabyte into a string (Prometheus parses bytes).
 */
async function scrapeBytes(url: string, openMetrics: boolean, gzip: boolean): Promise<number> {
  const accept = openMetrics ? prometheusAccept : 'text/plain;version=0.0.4';
  const response = await request(`${url}/metrics`, { headers: { accept, ...(gzip ? { 'accept-encoding': 'gzip' } : {}) } });
  if ((response.headers['content-encoding'] === 'gzip') !== gzip) throw new Error(`the exporter answered ${String(response.headers['content-encoding'])} to a scrape offering ${gzip ? 'gzip' : 'no encoding'}`);
  return (await response.body.arrayBuffer()).byteLength;
}

/**
 * 10 targets, each with all 10 known platforms and more outcome names than the cap (70): each target
 * shows 64 names plus Other on every platform, the most outcome series the caps allow per platform.
 */
export async function measureMetrics(folder: string, targets = 10, scrapes = 100): Promise<FootprintResult['metrics']> {
  mkdirSync(folder, { recursive: true });
  const hubs = Array.from({ length: targets }, (_, index) => `labels-${index}`);
  const simulator = RpcChild.start('simulator-process');
  let exporter: ExporterProcess | undefined;
  try {
    const { url } = await simulator.call<{ url: string }>('start', { hubs });
    for (const hub of hubs) await simulator.call('create', { hub, prefix: 'labels-', count: 1, seed: 1, kind: 'label-space' });
    exporter = ExporterProcess.start(folder, exporterProcessConfig(folder, url, hubs));
    await exporter.waitForStart();
    for (const hub of hubs) await postIds(exporter.url, hub, 'labels-', 0, 1);
    // The first poll comes 10 s after intake.
    const deadline = performance.now() + 60_000;
    while (sumSamples(await exporter.scrape(), 'push_notification_messages_total') < targets) {
      if (performance.now() > deadline) throw new Error('the label-space messages were not counted within 60 s');
      await sleep(500);
    }
    const text = await exporter.scrape();
    const samples = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    const outcomeSeries = samples.filter((line) => line.startsWith('push_notification_outcomes_total{')).length;
    const exporterUrl = exporter.url;
    const timeScrapes = async (openMetrics: boolean, gzip = false) => {
      const scrape = () => scrapeBytes(exporterUrl, openMetrics, gzip);
      for (let index = 0; index < 20; index += 1) await scrape();
      const times: number[] = [];
      for (let index = 0; index < scrapes; index += 1) {
        const started = performance.now();
        await scrape();
        times.push(performance.now() - started);
      }
      return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), max: percentile(times, 1) };
    };
    const milliseconds = await timeScrapes(false);
    const openMetricsMilliseconds = await timeScrapes(true);
    const gzipMilliseconds = await timeScrapes(false, true);
    const gzipOpenMetricsMilliseconds = await timeScrapes(true, true);
    const openMetricsBytes = Buffer.byteLength(await exporter.scrape(true));
    const gzipBytes = await scrapeBytes(exporterUrl, false, true);
    const gzipOpenMetricsBytes = await scrapeBytes(exporterUrl, true, true);
    await exporter.stop();
    return {
      targets,
      platforms: allCollections.length,
      outcomeValuesPerTarget: outcomeSeries / targets / allCollections.length,
      outcomeSeries,
      samples: samples.length,
      bytes: Buffer.byteLength(text),
      scrapes,
      milliseconds,
      openMetricsMilliseconds,
      openMetricsBytes,
      gzipMilliseconds,
      gzipOpenMetricsMilliseconds,
      gzipBytes,
      gzipOpenMetricsBytes,
    };
  } finally {
    exporter?.kill();
    await simulator.stop();
  }
}
