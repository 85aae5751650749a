/**
 * `npm run bench`: throughput, API efficiency, intake and footprint of the exporter, side by side
 * with a polling loop over the official Azure SDK. Prints a table and writes bench/results.json.
 * Each phase runs in processes of its own; README "Performance" says what each figure means.
 *
 *   --quick                  smaller sizes (about a minute), for a quick look
 *   BENCH_PROFILE_DIR=DIR    every measured process writes a V8 CPU profile to DIR
 *   BENCH_SKIP_SDK=1         throughput phase without the SDK loop (to profile the exporter alone)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { EfficiencyResult } from './efficiency.js';
import { measureFootprint, type FootprintResult } from './footprint.js';
import { measureIntake, type IntakeResult, type IntakeSizes } from './intake.js';
import { runPhase } from './lib/child.js';
import { PostgresCluster } from '../test/support/postgres.js';
import { megabytes, median, round } from './lib/stats.js';
import { makeThrowawayCertificate } from './lib/tls.js';
import type { ThroughputResult } from './throughput.js';

const resultsPath = fileURLToPath(new URL('../../bench/results.json', import.meta.url));
const quick = process.argv.includes('--quick');
const sizes = {
  throughputMessages: quick ? 5_000 : 20_000,
  rounds: quick ? 1 : 3,
  concurrency: 8,
  efficiencyMessages: quick ? 5_000 : 20_000,
  slowMessages: quick ? 500 : 2_000,
  intakeSingles: quick ? 5_000 : 20_000,
  intakeSingleConnections: 32,
  intakeBatches: quick ? 40 : 200,
  intakeBatchConnections: 8,
  footprintLargest: quick ? 20_000 : 100_000,
  footprintPolled: quick ? 5_000 : 20_000,
};

interface Row {
  measure: string;
  exporter: string;
  comparison: string;
  target: string;
  met: string;
}

function log(text: string): void {
  process.stderr.write(`[bench] ${text}\n`);
}

function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: round(totalmem() / 1024 ** 3, 1),
    freeMemoryGiB: round(freemem() / 1024 ** 3, 1),
    node: process.version,
    kernel: `${process.platform} ${release()}`,
    loadAverage: loadavg().map((value) => round(value, 2)),
  };
}

const number = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const yes = (condition: boolean) => (condition ? 'yes' : '**no**');

/** Seconds each phase took, for results.json. */
const phaseSeconds: Record<string, number> = {};

async function timed<T>(phase: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    phaseSeconds[phase] = round((performance.now() - started) / 1000, 1);
    log(`${phase} took ${phaseSeconds[phase]} s`);
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const folder = mkdtempSync(join(tmpdir(), 'pne-bench-'));
  const before = machine();
  log(`machine: ${before.cpu}, ${before.cores} cores, ${before.memoryGiB} GiB, Node ${before.node}, load ${before.loadAverage.join(' ')}`);
  try {
    const certificate = makeThrowawayCertificate(folder);
    const tls = 'error' in certificate ? undefined : certificate;
    if (!tls) log(`${(certificate as { error: string }).error}: the Azure SDK comparison is skipped`);

    const postgresSkipped = PostgresCluster.binaries() === undefined ? 'PostgreSQL not installed' : PostgresCluster.unavailableReason();
    // Durable as in production: fsync and synchronous commit on, to compare with SQLite's synchronous=FULL.
    const postgres = postgresSkipped === undefined ? await PostgresCluster.start({ durable: true }) : undefined;
    if (postgresSkipped) log(`${postgresSkipped}: the PostgreSQL rows are skipped`);
    try {
      await measureAll(folder, tls, postgres, postgresSkipped, before, started);
    } finally {
      postgres?.stop();
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

async function measureAll(
  folder: string,
  tls: { keyPath: string; certPath: string } | undefined,
  postgres: PostgresCluster | undefined,
  postgresSkipped: string | undefined,
  before: ReturnType<typeof machine>,
  started: number,
): Promise<void> {
  {
    const postgresUrls = postgres ? Array.from({ length: sizes.rounds }, () => postgres.createDatabase()) : undefined;
    log(`1/4 poll throughput: ${sizes.throughputMessages} messages, concurrency ${sizes.concurrency}, ${sizes.rounds} rounds each${postgres ? ' (SQLite and PostgreSQL)' : ''}`);
    const throughput = await timed('throughput', () =>
      runPhase<ThroughputResult>(
        'throughput',
        { messages: sizes.throughputMessages, concurrency: sizes.concurrency, rounds: sizes.rounds, tls, postgresUrls },
        // Only this phase's processes trust the throwaway certificate; TLS verification stays on.
        { environment: tls ? { NODE_EXTRA_CA_CERTS: tls.certPath } : {}, timeoutMilliseconds: 1_800_000 },
      ),
    );

    log(`2/4 API efficiency: realistic mix (${sizes.efficiencyMessages} messages) and slow sends (${sizes.slowMessages})`);
    const efficiency = await timed('efficiency', () =>
      runPhase<EfficiencyResult>('efficiency', { mix: 'realistic', messages: sizes.efficiencyMessages, messagesPerSecond: 100, stepMilliseconds: 250 }),
    );
    const slow = await timed('efficiency (slow sends)', () =>
      runPhase<EfficiencyResult>('efficiency', { mix: 'slow', messages: sizes.slowMessages, messagesPerSecond: 20, stepMilliseconds: 250 }),
    );

    const intakeSizes: IntakeSizes = {
      singles: sizes.intakeSingles,
      singleConnections: sizes.intakeSingleConnections,
      batches: sizes.intakeBatches,
      batchConnections: sizes.intakeBatchConnections,
    };
    log(`3/4 intake: ${sizes.intakeSingles} single-item requests (${sizes.intakeSingleConnections} connections), ${sizes.intakeBatches} batches of 500 (${sizes.intakeBatchConnections})`);
    const intake = await timed('intake', () => measureIntake(join(folder, 'intake'), intakeSizes));
    const postgresIntake = postgres ? await timed('intake (PostgreSQL)', () => measureIntake(join(folder, 'intake-pg'), intakeSizes, postgres.createDatabase())) : undefined;

    log(`4/4 footprint: ${sizes.footprintPolled / 1000}k polled, then 0, 10k and ${sizes.footprintLargest / 1000}k tracked, restart, /metrics at the label caps`);
    const footprint = await timed('footprint', () => measureFootprint(join(folder, 'footprint'), sizes.footprintLargest, sizes.footprintPolled));

    const after = machine();
    const rows = table(throughput, efficiency, slow, intake, footprint, { intake: postgresIntake, skipped: postgresSkipped });
    const seconds = (performance.now() - started) / 1000;
    const text = render(rows, before, after, seconds, throughput.sdkVersion);
    process.stdout.write(`${text}\n`);
    writeFileSync(
      resultsPath,
      `${JSON.stringify({ date: new Date().toISOString(), quick, sizes, machine: { before, after }, seconds, phaseSeconds, table: rows, throughput, efficiency, slow, intake, postgresIntake, postgresSkipped, footprint }, null, 2)}\n`,
    );
    log(`wrote ${resultsPath} (${round(seconds)} s)`);
  }
}

interface PostgresFigures {
  intake: IntakeResult | undefined;
  /** Why the PostgreSQL rows are empty, if they are. */
  skipped: string | undefined;
}

function table(
  throughput: ThroughputResult,
  efficiency: EfficiencyResult,
  slow: EfficiencyResult,
  intake: IntakeResult,
  footprint: FootprintResult,
  postgres: PostgresFigures,
): Row[] {
  const rows: Row[] = [];
  const exporterRate = median(throughput.exporter.map((run) => run.perSecond));
  const exact = [...throughput.exporter, ...throughput.postgres, ...throughput.sdk].every(
    (run) => run.outcomesCounted === run.outcomesExpected && run.messagesCounted === throughput.messages,
  );
  const perRound = (runs: { perSecond: number }[]) => runs.map((run) => number(run.perSecond)).join(', ');
  const cpu = (runs: { cpuMicrosecondsPerDocument: number }[]) => median(runs.map((run) => run.cpuMicrosecondsPerDocument));
  // Each round runs the pipeline, its ceiling and the SDK loop back to back: the ratio of each
  // round's pair sees the same machine load, so the median of those ratios is the least noisy.
  const pairedRatio = (runs: { perSecond: number }[], others: { perSecond: number }[]) =>
    median(runs.map((run, index) => run.perSecond / (others[index]?.perSecond ?? Number.NaN)));
  const skippedPostgres = `skipped: ${postgres.skipped ?? 'not measured'}`;
  const intakeFigures = (load: IntakeResult['single']) =>
    `${number(load.requestsPerSecond)} requests/s (${number(load.idsPerSecond)} IDs/s), p50 ${number(load.latencyMilliseconds.p50, 1)} ms, p99 ${number(load.latencyMilliseconds.p99, 1)} ms`;

  const single = intake.single;
  const singleMet = single.requestsPerSecond >= 5_000 && single.latencyMilliseconds.p99 <= 50;
  rows.push({
    measure: `Intake, single-item requests (one ID per request, as a sender forwards each send; ${number(single.requests)} requests, ${single.connections} connections, from a second process; 202 only after the commit)`,
    exporter: `SQLite: ${intakeFigures(single)}`,
    comparison: postgres.intake ? `PostgreSQL: ${intakeFigures(postgres.intake.single)}` : `PostgreSQL ${skippedPostgres}`,
    target: '≥ 5,000 requests/s, p99 ≤ 50 ms (SQLite)',
    met: yes(singleMet),
  });
  rows.push({
    measure: `Intake, batches of 500 (${number(intake.batches.requests)} requests, ${intake.batches.connections} connections)`,
    exporter: `SQLite: ${number(intake.batches.idsPerSecond)} IDs/s, p99 ${number(intake.batches.latencyMilliseconds.p99, 1)} ms`,
    comparison: postgres.intake
      ? `PostgreSQL: ${number(postgres.intake.batches.idsPerSecond)} IDs/s, p99 ${number(postgres.intake.batches.latencyMilliseconds.p99, 1)} ms`
      : `PostgreSQL ${skippedPostgres}`,
    target: '≥ 10,000 IDs/s',
    met: yes(intake.batches.idsPerSecond >= 10_000),
  });
  const ceilingRatio = pairedRatio(throughput.exporter, throughput.ceiling);
  rows.push({
    measure: `Poll pipeline: ${number(throughput.messages)} messages fetched, parsed, counted and persisted, concurrency ${throughput.concurrency} (median of ${throughput.exporter.length}), against the same rounds' fetch + parse only (the exporter's client alone, nothing counted or stored)`,
    exporter: `SQLite: ${number(exporterRate)} /s (${perRound(throughput.exporter)}); fetch + parse only: ${number(median(throughput.ceiling.map((run) => run.perSecond)))} /s (${perRound(throughput.ceiling)})`,
    comparison: `pipeline / fetch + parse: **${number(100 * ceilingRatio)} %** (median of the rounds' ratios)`,
    target: '≥ 70 %',
    met: yes(ceilingRatio >= 0.7 && exact),
  });
  rows.push({
    measure: 'CPU time per polled document, poll process (user + system; less sensitive to a busy machine than rates)',
    exporter: `pipeline: ${number(cpu(throughput.exporter))} µs`,
    comparison: `fetch + parse only: ${number(cpu(throughput.ceiling))} µs${throughput.sdk.length > 0 ? `; SDK loop: ${number(cpu(throughput.sdk))} µs` : ''}`,
    target: '≤ 300 µs',
    met: yes(cpu(throughput.exporter) <= 300),
  });
  if (throughput.sdk.length > 0) {
    const sdkRate = median(throughput.sdk.map((run) => run.perSecond));
    const ratio = pairedRatio(throughput.exporter, throughput.sdk);
    rows.push({
      measure: `Poll throughput against a loop over the Azure SDK ${throughput.sdkVersion} doing the same work (same rounds, same simulator)`,
      exporter: `${number(exporterRate)} /s`,
      comparison: `SDK loop: ${number(sdkRate)} /s (${perRound(throughput.sdk)}); ratio **${number(ratio, 2)}×** (median of the rounds' ratios); SDK fetch + parse only: ${number(throughput.sdkClientOnlyPerSecond)} /s`,
      target: '≥ 3× the SDK loop',
      met: yes(ratio >= 3 && exact),
    });
  } else {
    rows.push({ measure: 'Poll throughput against the Azure SDK loop', exporter: `${number(exporterRate)} /s`, comparison: 'SDK loop skipped (no openssl, or BENCH_SKIP_SDK)', target: '≥ 3× the SDK loop', met: 'n/a' });
  }
  rows.push({
    measure: 'Poll pipeline on PostgreSQL (same rounds, same messages, a local cluster with fsync on)',
    exporter:
      throughput.postgres.length > 0
        ? `PostgreSQL: ${number(median(throughput.postgres.map((run) => run.perSecond)))} /s (${perRound(throughput.postgres)}), CPU ${number(cpu(throughput.postgres))} µs per document`
        : `PostgreSQL ${skippedPostgres}`,
    comparison: throughput.postgres.length > 0 ? `SQLite: ${number(exporterRate)} /s; PostgreSQL / SQLite: ${number(pairedRatio(throughput.postgres, throughput.exporter), 2)}×` : '',
    target: '',
    met: '',
  });
  rows.push({
    measure: 'Counts equal the simulator’s truth (every throughput run)',
    exporter: exact ? 'yes' : '**no**',
    comparison: '',
    target: 'exact',
    met: yes(exact),
  });
  const freshness = (figures: EfficiencyResult['exporter']) =>
    `${number(figures.freshnessSeconds.p50, 1)} / ${number(figures.freshnessSeconds.p95, 1)} / ${number(figures.freshnessSeconds.max, 1)} s`;
  rows.push({
    measure: `Upstream requests per message, realistic lifecycle mix (${number(efficiency.messages)} messages)`,
    exporter: number(efficiency.exporter.requestsPerMessage, 2),
    comparison: `naive every 10 s: ${number(efficiency.naive.requestsPerMessage, 2)}`,
    target: '≤ 3',
    met: yes(efficiency.exporter.requestsPerMessage <= 3 && efficiency.countsExact),
  });
  rows.push({
    measure: 'Freshness p50 / p95 / max (terminal in the simulator → counted), realistic mix',
    exporter: freshness(efficiency.exporter),
    comparison: `naive: ${freshness(efficiency.naive)}`,
    target: 'p95 < 15 s',
    met: yes(efficiency.exporter.freshnessSeconds.p95 < 15),
  });
  rows.push({
    measure: `Slow sends (telemetry after 0.5–5 min, processing 1–10 min; ${number(slow.messages)} messages): requests per message; freshness p50 / p95 / max`,
    exporter: `${number(slow.exporter.requestsPerMessage, 1)}; ${freshness(slow.exporter)}`,
    comparison: `naive: ${number(slow.naive.requestsPerMessage, 1)}; ${freshness(slow.naive)}`,
    target: '',
    met: '',
  });
  for (const { tracked, label, sample } of footprint.memory) {
    // The target is about 100k tracked messages after a throughput phase (--quick tracks fewer).
    const isTarget = tracked >= 100_000 && label.includes('after') && label.includes('polled');
    rows.push({
      measure: `Memory, ${label}: RSS; heap used; live heap after a full GC`,
      exporter: `${megabytes(sample.rssBytes)} MB; ${megabytes(sample.heapUsedBytes)} MB; ${megabytes(sample.liveHeapBytes)} MB`,
      comparison: '',
      target: isTarget ? 'RSS ≤ 150 MB' : '',
      met: isTarget ? yes(sample.rssBytes <= 150 * 1024 * 1024) : '',
    });
  }
  // The largest count after the throughput phase (the samples are in order of growth).
  const largest = footprint.memory.filter(({ label }) => label.includes('polled')).at(-1);
  if (largest) {
    const { sample } = largest;
    rows.push({
      // Where that RSS goes: V8's heap as reserved (its young generation apart), and the rest (SQLite, the allocator, code).
      measure: `Memory, ${largest.label}: V8 heap reserved (of which new space); external (of which ArrayBuffers); the rest of RSS`,
      exporter: `${megabytes(sample.heapTotalBytes)} MB (${megabytes(sample.newSpaceBytes)} MB); ${megabytes(sample.externalBytes)} MB (${megabytes(sample.arrayBuffersBytes)} MB); ${megabytes(sample.rssBytes - sample.heapTotalBytes - sample.externalBytes)} MB`,
      comparison: `exporter CPU in the throughput phase (intake and polling): ${number(footprint.throughputCpuMilliseconds / footprint.polledBefore, 2)} ms per message`,
      target: '',
      met: '',
    });
  }
  rows.push({
    measure: 'Memory per tracked message (from 0 to the largest count, both after the throughput phase)',
    // RSS moves with what V8 and the allocator keep from the throughput phase, more than with the
    // messages: it is shown, the live heap is the footprint.
    exporter: `${number(footprint.bytesPerTrackedMessage.liveHeap)} bytes of live heap (RSS moved by ${number(footprint.bytesPerTrackedMessage.rss)} bytes per message)`,
    comparison: '',
    target: '',
    met: '',
  });
  rows.push({
    measure: `Start-up with ${number(footprint.resumedMessages)} persisted messages (spawn → serving)`,
    exporter: `${number(footprint.startupMilliseconds / 1000, 2)} s`,
    comparison: `stop (SIGTERM → exit): ${number(footprint.stopMilliseconds)} ms`,
    target: '',
    met: '',
  });
  const { metrics } = footprint;
  rows.push({
    measure: `/metrics at the label caps: ${metrics.targets} targets × ${metrics.platforms} platforms × ${metrics.outcomeValuesPerTarget} outcome values = ${number(metrics.outcomeSeries)} outcome series, ${number(metrics.samples)} samples; p50 / p99 of ${metrics.scrapes} scrapes`,
    exporter: `text: ${number(metrics.milliseconds.p50, 1)} / ${number(metrics.milliseconds.p99, 1)} ms (${number(metrics.bytes / 1024)} KiB); OpenMetrics (what Prometheus asks for): ${number(metrics.openMetricsMilliseconds.p50, 1)} / ${number(metrics.openMetricsMilliseconds.p99, 1)} ms (${number(metrics.openMetricsBytes / 1024)} KiB)`,
    comparison: `gzip (as Prometheus scrapes): text ${number(metrics.gzipMilliseconds.p50, 1)} / ${number(metrics.gzipMilliseconds.p99, 1)} ms (${number(metrics.gzipBytes / 1024)} KiB); OpenMetrics ${number(metrics.gzipOpenMetricsMilliseconds.p50, 1)} / ${number(metrics.gzipOpenMetricsMilliseconds.p99, 1)} ms (${number(metrics.gzipOpenMetricsBytes / 1024)} KiB)`,
    target: '≤ 15 ms (p50), gzip when asked',
    met: yes([metrics.milliseconds, metrics.openMetricsMilliseconds, metrics.gzipMilliseconds, metrics.gzipOpenMetricsMilliseconds].every(({ p50 }) => p50 <= 15)),
  });
  return rows;
}

function render(rows: Row[], before: ReturnType<typeof machine>, after: ReturnType<typeof machine>, seconds: number, sdkVersion: string): string {
  const escape = (text: string) => text.replace(/\|/g, '\\|');
  const lines = [
    '| measure | push-notification-exporter | comparison | target | met |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((row) => `| ${[row.measure, row.exporter, row.comparison, row.target, row.met].map(escape).join(' | ')} |`),
  ];
  return [
    '',
    ...lines,
    '',
    `Machine: ${before.cpu}, ${before.cores} cores, ${before.memoryGiB} GiB RAM, ${before.kernel}, Node ${before.node}, @azure/notification-hubs ${sdkVersion}.`,
    `Load average at start ${before.loadAverage.join(' / ')}, at end ${after.loadAverage.join(' / ')} (the machine is shared: figures are noisy).`,
    `Bench took ${round(seconds)} s${quick ? ' (--quick: smaller sizes)' : ''}.`,
  ].join('\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
