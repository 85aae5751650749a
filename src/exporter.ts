import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExporterConfig } from './config/load.js';
import type { Logger } from './logging/logger.js';
import { createExporterMetrics, type ExporterMetrics } from './metrics/exporter-metrics.js';
import { histogramBounds } from './metrics/names.js';
import { createHttpApp } from './server/http-app.js';
import { loadReadmePage } from './server/readme-page.js';
import { createExporterServer } from './server/http-server.js';
import { WebSecurity } from './server/web-security.js';
import { StorageGuard } from './storage-guard.js';
import { notificationStates, terminalStates } from './sources/azure-notification-hubs/notification-state.js';
import { firstPollDelayMilliseconds } from './sources/azure-notification-hubs/poll-schedule.js';
import type { HubPoller } from './sources/azure-notification-hubs/poller.js';
import {
  azureNotificationHubsSource,
  type ClosableTelemetryClient,
} from './sources/azure-notification-hubs/source.js';
import type { EverlivePoller } from './sources/everlive/poller.js';
import type { TrustOptions } from './sources/azure-monitor/credential.js';
import { azureMonitorSource, type AzureMonitorSource } from './sources/azure-monitor/source.js';
import { everliveSource } from './sources/everlive/source.js';
import type { Source, SourceContext } from './sources/source.js';
import { openStorage } from './tracking/open-storage.js';
import { sourceTargetKey, type Storage } from './tracking/storage.js';
import { systemClock, type Clock } from './time/clock.js';
import { version } from './version.js';

export interface ExporterOptions {
  config: ExporterConfig;
  logger: Logger;
  clock?: Clock;
  random?: () => number;
  /** Replaces the undici client per hub (benchmarks); tests use the real client against the simulator. */
  createClient?: (target: ExporterConfig['azureNotificationHubs'][number]) => ClosableTelemetryClient;
  processMetrics?: boolean;
  /** Start the Everlive schedules (tests that drive runs by hand turn this off). */
  startEverlive?: boolean;
  /** Certificates the Azure Monitor source trusts in this process (the demo's and tests' simulator). */
  azureMonitorTrust?: TrustOptions;
  /** How often the web config file (and the files it names) is checked for changes. */
  webConfigReloadIntervalMilliseconds?: number;
}

export interface RunningExporter {
  /** A URL that reaches the exporter from this machine (127.0.0.1 when it listens on every interface). */
  url: string;
  /** The address actually bound, as host:port (`0.0.0.0:10130`, `[::]:10130`, `127.0.0.1:41873`). */
  address: string;
  port: number;
  store: Storage;
  metrics: ExporterMetrics;
  pollers: ReadonlyMap<string, HubPoller>;
  everlivePollers: readonly EverlivePoller[];
  azureMonitor: AzureMonitorSource;
  /** Waits until no poll request is in flight on any hub. */
  whenIdle(): Promise<void>;
  /** Why the state storage was lost while running (deleted, replaced), or undefined. */
  storageProblem(): string | undefined;
  /** Re-reads the web config now if it changed (it is also checked periodically). */
  reloadWebConfig(): 'unchanged' | 'reloaded' | 'refused';
  stop(): Promise<void>;
}

const pruneIntervalMilliseconds = 60 * 60_000;
/** How often the state file is checked to still be the one open (intake also checks before each 202). */
const storageCheckIntervalMilliseconds = 5_000;
const everliveMinimumRetention = 30 * 86_400_000;
/** How often work left by a replica that stopped is looked for (its lease is 30 s). */
const claimIntervalMilliseconds = 5_000;

/** Opens the store, resumes tracking, starts the poll loops and the HTTP server. */
export async function startExporter(options: ExporterOptions): Promise<RunningExporter> {
  const { config, logger } = options;
  const clock = options.clock ?? systemClock;
  const store = await openStorage(config.storage, histogramBounds, logger);
  const definitions = {
    azureNotificationHubs: azureNotificationHubsSource({ createClient: options.createClient }),
    everlive: everliveSource({ startSchedules: options.startEverlive }),
    azureMonitor: azureMonitorSource({ trust: options.azureMonitorTrust }),
  };
  const azureTargets = definitions.azureNotificationHubs.targets(config);
  const allTargets = Object.values(definitions).flatMap((definition) => definition.targets(config));
  // Targets whose gauges of shared state this process exports: all of them, unless several replicas share the storage.
  let reporting = new Set<string>();
  const metrics = createExporterMetrics({
    store,
    targets: allTargets,
    azureTargets,
    // Read at scrape time only, once the sources exist.
    trackedMessages: () => azure.trackedCounts(),
    trackedStates: ['Pending', ...notificationStates.filter((state) => !terminalStates.has(state))],
    terminalStates: [...terminalStates],
    version,
    processMetrics: options.processMetrics,
    reportsSharedState: (labels) => reporting.has(sourceTargetKey(labels)),
  });
  // The guard is made below; the workers only ask it once running.
  const storageAvailable = () => storageGuard.verify() === undefined;
  const context: SourceContext = { config, store, metrics, clock, logger, random: options.random, storageAvailable };
  const azure = await definitions.azureNotificationHubs.create(context);
  const everlive = await definitions.everlive.create(context);
  const azureMonitor = await definitions.azureMonitor.create(context);
  const sources: Source[] = [azure, everlive, azureMonitor];

  const takeWork = async () => {
    reporting = await store.reportingTargets(allTargets);
    return azure.claimWork();
  };
  const resumed = await takeWork().catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  if (resumed.orphans > 0) {
    logger.warn({ messages: resumed.orphans }, 'state file tracks messages for targets no longer configured; they are kept but not polled');
  }
  logger.info({ messages: resumed.messages - resumed.orphans, targets: azure.pollers.size, storage: store.backend }, 'resumed tracking');

  let ready = false;
  let stopping = false;
  const stopWorkers = () => Promise.all(sources.map((source) => source.stop()));
  const storageGuard = new StorageGuard({
    storage: store,
    clock,
    logger,
    intervalMilliseconds: storageCheckIntervalMilliseconds,
    onLost: () => void stopWorkers(),
  });
  const security = new WebSecurity(config.server.web);
  const app = createHttpApp({
    security,
    intakeRateLimit: config.server.intakeRateLimit,
    registry: metrics.registry,
    exemplars: metrics.exemplars,
    apiTokens: config.server.apiTokens,
    maxRequestBodyBytes: config.server.maxRequestBodyBytes,
    isReady: () => ready && !stopping && storageGuard.verify() === undefined,
    logger,
    version,
    store,
    targets: config.azureNotificationHubs,
    track: (messages) => azure.track(messages),
    storageProblem: () => storageGuard.verify(),
    now: () => clock.now(),
    firstPollDelayMilliseconds,
    readmePage: loadReadmePage(),
  });
  const exporterServer = createExporterServer(app, security, logger, { reloadIntervalMilliseconds: options.webConfigReloadIntervalMilliseconds });
  const server: Server = exporterServer.server;
  server.listen(config.server.listen.port, config.server.listen.host);
  try {
    await once(server, 'listening');
  } catch (error) {
    exporterServer.stopWatching();
    // Nothing has started yet: release the state file (and its lock) so a restart can take it.
    await Promise.all(sources.map((source) => source.close()));
    await store.close();
    throw new Error(`cannot listen on ${config.server.listen.host}:${config.server.listen.port}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  const bound = server.address() as AddressInfo;
  const port = bound.port;
  const url = `${exporterServer.scheme}://${hostForUrl(reachableHost(config.server.listen.host, bound.address))}:${port}`;
  // Polling starts only once the server is up, so a failed start leaves nothing running.
  for (const source of sources) source.start();
  storageGuard.start();
  ready = true;

  // Work left by replicas that stopped (a backend of one process has none): taken up as it appears.
  // On real time, not the injected clock: leases run on the database's clock.
  let claiming: Promise<unknown> | undefined;
  const claimTimer = setInterval(() => {
    if (claiming || stopping || !storageAvailable()) return;
    claiming = takeWork()
      .then(({ messages }) => {
        if (messages > 0) logger.info({ messages }, 'took over tracking from a replica that stopped');
      })
      .catch((error: unknown) => logger.warn({ error: String(error) }, 'cannot look for work left by other replicas'))
      .finally(() => {
        claiming = undefined;
      });
  }, claimIntervalMilliseconds);
  claimTimer.unref();

  const prune = async () => {
    try {
      const removed = await store.pruneFinished(clock.now() - config.storage.finishedRetentionMilliseconds);
      // Everlive notifications are forgotten only long after their last change: one modified after
      // being forgotten would count as new.
      const everliveBefore = clock.now() - Math.max(config.storage.finishedRetentionMilliseconds, everliveMinimumRetention);
      let forgotten = 0;
      for (const app of config.everlive) forgotten += await store.everlive.prune(app.name, everliveBefore, app.overlapMilliseconds);
      if (removed > 0 || forgotten > 0) logger.info({ removed, forgotten }, 'pruned finished messages');
    } catch (error) {
      logger.error({ error: String(error) }, 'cannot prune finished messages');
    }
  };
  let pruning = prune();
  const pruneTimer = setInterval(() => {
    pruning = prune();
  }, pruneIntervalMilliseconds);
  pruneTimer.unref();

  return {
    url,
    address: `${hostForUrl(bound.address)}:${port}`,
    port,
    store,
    metrics,
    pollers: azure.pollers,
    everlivePollers: everlive.pollers,
    azureMonitor,
    whenIdle: async () => {
      await Promise.all(sources.map((source) => source.whenIdle()));
    },
    storageProblem: () => storageGuard.problem?.message,
    reloadWebConfig: () => exporterServer.reloadWebConfig(),
    stop: async () => {
      if (stopping) return;
      stopping = true;
      clearInterval(pruneTimer);
      clearInterval(claimTimer);
      await claiming;
      storageGuard.stop();
      exporterServer.stopWatching();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await stopWorkers();
      await Promise.all(sources.map((source) => source.close()));
      server.closeAllConnections();
      await closed;
      await pruning;
      await store.close();
    },
  };
}

/**
 * Where a client on this machine reaches a server bound to `bound` (asked for as `configured`): on
 * every interface, the IPv4 loopback (a `::` socket is dual-stack and takes it too).
 */
function reachableHost(configured: string, bound: string): string {
  if (bound === '0.0.0.0' || bound === '::') return '127.0.0.1';
  return configured === '' ? bound : configured;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
