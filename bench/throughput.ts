/**
 * Phase 1, poll throughput: the exporter's real poll path (undici client, XML parser, poll
 * decisions, SQLite store) against a loop over the official Azure SDK doing the same work, at the
 * same concurrency, against the simulator over https in its own process. Forked by run.ts with
 * NODE_EXTRA_CA_CERTS set to the throwaway certificate, so both clients verify TLS as usual.
 */
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createClientContext, getNotificationOutcomeDetails } from '@azure/notification-hubs/api';
import type { NotificationDetails as SdkDetails } from '@azure/notification-hubs/models';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { parseConfig } from '../src/config/load.js';
import { startExporter } from '../src/exporter.js';
import { createLogger } from '../src/logging/logger.js';
import { metricNames } from '../src/metrics/names.js';
import { NotificationHubsClient } from '../src/sources/azure-notification-hubs/client.js';
import { firstPollDelayMilliseconds } from '../src/sources/azure-notification-hubs/poll-schedule.js';
import { ManualClock, systemClock } from '../src/time/clock.js';
import { phaseMain, RpcChild } from './lib/child.js';
import { median } from './lib/stats.js';
import { profileWindow } from './lib/window-profile.js';
import { benchNamespace, benchServerSettings, connectionString, intakeToken, type Truth } from './lib/plans.js';

export interface ThroughputArgument {
  messages: number;
  concurrency: number;
  rounds: number;
  /** The throwaway certificate; without it (no openssl) the simulator speaks http and the SDK loop is skipped. */
  tls?: { keyPath: string; certPath: string };
  /** One empty PostgreSQL database per round: the pipeline runs on it too, right after the SQLite run. */
  postgresUrls?: string[];
}

export interface RunFigures {
  seconds: number;
  perSecond: number;
  /** CPU time (user + system) of this process per document: less sensitive to a busy machine than wall time. */
  cpuMicrosecondsPerDocument: number;
  outcomesCounted: number;
  outcomesExpected: number;
  messagesCounted: number;
}

export interface CeilingFigures {
  perSecond: number;
  cpuMicrosecondsPerDocument: number;
}

export interface ThroughputResult {
  messages: number;
  concurrency: number;
  exporter: RunFigures[];
  /** The same pipeline on the PostgreSQL backend (empty when PostgreSQL is not installed). */
  postgres: RunFigures[];
  sdk: RunFigures[];
  exporterIntakePerSecond: number[];
  /**
   * The exporter's own client alone, fetch + parse, nothing counted or stored (the ceiling of its
   * pipeline), one per round right after that round's pipeline run, on the same number of messages.
   */
  ceiling: CeilingFigures[];
  /** Medians of `ceiling`. */
  exporterClientOnlyPerSecond: number;
  sdkClientOnlyPerSecond: number;
  sdkVersion: string;
}

const hub = 'throughput';
const devNull = openSync('/dev/null', 'w');
const seed = 20_000;

phaseMain(async (argument: ThroughputArgument): Promise<ThroughputResult> => {
  const folder = mkdtempSync(join(tmpdir(), 'pne-bench-throughput-'));
  const simulator = RpcChild.start('simulator-process');
  try {
    const { url } = await simulator.call<{ url: string }>('start', { hubs: [hub], tls: argument.tls });
    const result: ThroughputResult = {
      messages: argument.messages,
      concurrency: argument.concurrency,
      exporter: [],
      postgres: [],
      sdk: [],
      exporterIntakePerSecond: [],
      ceiling: [],
      exporterClientOnlyPerSecond: 0,
      sdkClientOnlyPerSecond: 0,
      sdkVersion: sdkVersion(),
    };
    // Warm both paths up (JIT, connections, TLS sessions) before measuring.
    const withSdk = argument.tls !== undefined && process.env.BENCH_SKIP_SDK !== '1';
    const sqlite = (prefix: string) => ({ path: join(folder, `${prefix}state.db`) });
    // 5,000 documents each: with 2,000 the first measured round still ran partly unoptimised code
    // (its pipeline was 10 to 20 % below the later rounds, in every run).
    const warmMessages = Math.min(5_000, argument.messages);
    await exporterRun(simulator, url, sqlite('warm-exporter-'), 'warm-exporter-', warmMessages, argument.concurrency);
    await exporterClientOnly(simulator, url, 'warm-client-only-', warmMessages, argument.concurrency);
    if (withSdk) await sdkRun(simulator, url, folder, 'warm-sdk-', warmMessages, argument.concurrency);
    // Alternate pipeline, ceiling and SDK loop so drifting machine load hits all alike.
    for (let round = 0; round < argument.rounds; round += 1) {
      const exporter = await exporterRun(simulator, url, sqlite(`exporter-${round}-`), `exporter-${round}-`, argument.messages, argument.concurrency);
      result.exporter.push(exporter.figures);
      result.exporterIntakePerSecond.push(exporter.intakePerSecond);
      const postgresUrl = argument.postgresUrls?.[round];
      if (postgresUrl) {
        const storage = { postgres: { connectionString: postgresUrl, replicaId: 'bench' } };
        result.postgres.push((await exporterRun(simulator, url, storage, `postgres-${round}-`, argument.messages, argument.concurrency)).figures);
      }
      result.ceiling.push(await exporterClientOnly(simulator, url, `client-only-${round}-`, argument.messages, argument.concurrency));
      if (withSdk) result.sdk.push(await sdkRun(simulator, url, folder, `sdk-${round}-`, argument.messages, argument.concurrency));
    }
    result.exporterClientOnlyPerSecond = median(result.ceiling.map((figures) => figures.perSecond));
    if (withSdk) result.sdkClientOnlyPerSecond = await sdkClientOnly(simulator, url, Math.min(argument.messages, 10_000), argument.concurrency);
    return result;
  } finally {
    await simulator.stop();
    rmSync(folder, { recursive: true, force: true });
  }
});

/** The installed SDK's version, from the package.json above its entry point. */
function sdkVersion(): string {
  let folder = dirname(createRequire(import.meta.url).resolve('@azure/notification-hubs'));
  while (folder !== dirname(folder)) {
    const path = join(folder, 'package.json');
    if (existsSync(path)) {
      const manifest = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === '@azure/notification-hubs') return manifest.version ?? 'unknown';
    }
    folder = dirname(folder);
  }
  return 'unknown';
}

async function createMessages(simulator: RpcChild, prefix: string, count: number): Promise<Truth> {
  return simulator.call<Truth>('create', { hub, prefix, count, seed, kind: 'ready-terminal' });
}

function exporterConfig(url: string, storage: Record<string, unknown>, concurrency: number) {
  return parseConfig(
    JSON.stringify({
      server: benchServerSettings(),
      storage,
      azureNotificationHubs: [
        { name: 'bench', connectionString: connectionString(`${benchNamespace}.servicebus.windows.net`), hub, endpoint: url, concurrency },
      ],
    }),
  );
}

/**
 * The exporter: IDs accepted through the intake API, then the manual clock moves past the first-poll
 * delay so all are due at once (HTTP, parsing and SQLite stay real), and we wait until all are counted.
 */
async function exporterRun(
  simulator: RpcChild,
  url: string,
  storage: Record<string, unknown>,
  prefix: string,
  count: number,
  concurrency: number,
): Promise<{ figures: RunFigures; intakePerSecond: number }> {
  const truth = await createMessages(simulator, prefix, count);
  const clock = new ManualClock(Date.now());
  const exporter = await startExporter({
    config: exporterConfig(url, storage, concurrency),
    // Logs as in production (info level, written synchronously), to /dev/null.
    logger: createLogger({ level: 'info', destination: devNull }),
    clock,
    processMetrics: false,
    startEverlive: false,
  });
  try {
    await exporter.whenIdle();
    const intakeStarted = performance.now();
    for (let start = 0; start < count; start += 1000) {
      const items = [];
      for (let index = start; index < Math.min(count, start + 1000); index += 1) items.push({ target: 'bench', notificationId: `${prefix}${index}` });
      const response = await request(`${exporter.url}/api/v1/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${intakeToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(items),
      });
      const text = await response.body.text();
      if (response.statusCode !== 202) throw new Error(`intake answered ${response.statusCode}: ${text}`);
    }
    const intakeSeconds = (performance.now() - intakeStarted) / 1000;
    const started = performance.now();
    const cpu = process.cpuUsage();
    await profileWindow(`window-${prefix}pipeline`, async () => {
      clock.advance(firstPollDelayMilliseconds);
      await exporter.whenIdle();
    });
    const seconds = (performance.now() - started) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    const counters = exporter.store.counters;
    const sum = (family: string) => [...counters.series(family)].reduce((total, series) => total + series.value, 0);
    return {
      figures: {
        seconds,
        perSecond: count / seconds,
        cpuMicrosecondsPerDocument: (user + system) / count,
        outcomesCounted: sum(metricNames.outcomes),
        outcomesExpected: truth.outcomes,
        messagesCounted: sum(metricNames.messages),
      },
      intakePerSecond: count / intakeSeconds,
    };
  } finally {
    await exporter.stop();
  }
}

const sdkCollections = [
  ['apns', 'apnsOutcomeCounts'],
  ['wns', 'wnsOutcomeCounts'],
  ['fcm', 'fcmOutcomeCounts'],
  ['fcmv1', 'fcmV1OutcomeCounts'],
  ['adm', 'admOutcomeCounts'],
  ['baidu', 'baiduOutcomeCounts'],
  ['browser', 'browserOutcomeCounts'],
  ['xiaomi', 'xiaomiOutcomeCounts'],
] as const;

/**
 * What a user would otherwise write, doing the same work: a loop of `concurrency` workers calling the
 * SDK's getNotificationOutcomeDetails, adding the growth of each outcome count to counters, and
 * persisting the message state, its last counts and the totals in one SQLite transaction per answer
 * (WAL, synchronous=FULL: the same durability the exporter promises), the in-memory counters
 * changing after the commit.
 */
async function sdkRun(simulator: RpcChild, url: string, folder: string, prefix: string, count: number, concurrency: number): Promise<RunFigures> {
  const truth = await createMessages(simulator, prefix, count);
  const database = new Database(join(folder, `${prefix}sdk.db`));
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = FULL');
  database.exec(`
    CREATE TABLE messages (id TEXT PRIMARY KEY, state TEXT, polled_at INTEGER) WITHOUT ROWID;
    CREATE TABLE last_counts (id TEXT, platform TEXT, outcome TEXT, count INTEGER, PRIMARY KEY (id, platform, outcome)) WITHOUT ROWID;
    CREATE TABLE totals (name TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;`);
  const putMessage = database.prepare(
    'INSERT INTO messages (id, state, polled_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, polled_at = excluded.polled_at',
  );
  const putCount = database.prepare(
    'INSERT INTO last_counts VALUES (?, ?, ?, ?) ON CONFLICT (id, platform, outcome) DO UPDATE SET count = excluded.count',
  );
  const addTotal = database.prepare('INSERT INTO totals VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value');
  const lastCounts = new Map<string, number>();
  const totals = new Map<string, number>();
  const record = database.transaction((id: string, details: SdkDetails, increments: Map<string, number>) => {
    putMessage.run(id, details.state ?? 'Unknown', Date.now());
    for (const [platform, field] of sdkCollections) {
      for (const outcome of details[field] ?? []) {
        const key = `${id}\u0000${platform}\u0000${outcome.state}`;
        const growth = outcome.count - (lastCounts.get(key) ?? 0);
        if (growth <= 0) continue;
        putCount.run(id, platform, outcome.state, outcome.count);
        increments.set(`outcomes\u0000${platform}\u0000${outcome.state}`, growth);
      }
    }
    increments.set(`messages\u0000${details.state ?? 'Unknown'}`, 1);
    for (const [name, value] of increments) addTotal.run(name, value);
  });

  const context = createClientContext(connectionString(new URL(url).host), hub);
  let next = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const id = `${prefix}${next++}`;
        const details = await getNotificationOutcomeDetails(context, id);
        const increments = new Map<string, number>();
        record.immediate(id, details, increments);
        for (const [platform, field] of sdkCollections) {
          for (const outcome of details[field] ?? []) lastCounts.set(`${id}\u0000${platform}\u0000${outcome.state}`, outcome.count);
        }
        for (const [name, value] of increments) totals.set(name, (totals.get(name) ?? 0) + value);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  database.close();
  const sum = (family: string) => [...totals].filter(([name]) => name.startsWith(`${family}\u0000`)).reduce((total, [, value]) => total + value, 0);
  return {
    seconds,
    perSecond: count / seconds,
    cpuMicrosecondsPerDocument: (user + system) / count,
    outcomesCounted: sum('outcomes'),
    outcomesExpected: truth.outcomes,
    messagesCounted: sum('messages'),
  };
}

/** The exporter's client alone: fetch and parse, nothing counted or stored. */
async function exporterClientOnly(simulator: RpcChild, url: string, prefix: string, count: number, concurrency: number): Promise<CeilingFigures> {
  await createMessages(simulator, prefix, count);
  const target = exporterConfig(url, { path: ':memory:' }, concurrency).azureNotificationHubs[0];
  if (!target) throw new Error('no target');
  const client = new NotificationHubsClient(target, systemClock);
  await client.getNotificationDetails(`${prefix}0`);
  const started = performance.now();
  const cpu = process.cpuUsage();
  let next = 0;
  await profileWindow(`window-${prefix}ceiling`, () =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) await client.getNotificationDetails(`${prefix}${next++}`);
      }),
    ),
  );
  const perSecond = count / ((performance.now() - started) / 1000);
  const { user, system } = process.cpuUsage(cpu);
  await client.close();
  return { perSecond, cpuMicrosecondsPerDocument: (user + system) / count };
}

async function sdkClientOnly(simulator: RpcChild, url: string, count: number, concurrency: number): Promise<number> {
  const prefix = 'client-only-sdk-';
  await createMessages(simulator, prefix, count);
  const context = createClientContext(connectionString(new URL(url).host), hub);
  await getNotificationOutcomeDetails(context, `${prefix}0`);
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await getNotificationOutcomeDetails(context, `${prefix}${next++}`);
    }),
  );
  return count / ((performance.now() - started) / 1000);
}
