import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExporterConfig } from './config/load.js';
import type { Logger } from './logging/logger.js';
import { createExporterMetrics, type ExporterMetrics, type TrackedCount } from './metrics/exporter-metrics.js';
import { BoundedLabelValues, OutcomeLabeler, StatusLabeler } from './metrics/labels.js';
import { histogramBounds, metricNames, sourceLabels } from './metrics/names.js';
import { createHttpApp } from './server/http-app.js';
import { createExporterServer } from './server/http-server.js';
import { WebSecurity } from './server/web-security.js';
import { StorageGuard } from './storage-guard.js';
import { NotificationHubsClient } from './sources/azure-notification-hubs/client.js';
import { ErrorDetailsFetcher } from './sources/azure-notification-hubs/error-details-fetcher.js';
import { notificationStates, terminalStates } from './sources/azure-notification-hubs/notification-state.js';
import { firstPollDelayMilliseconds } from './sources/azure-notification-hubs/poll-schedule.js';
import { HubPoller, type TelemetryClient } from './sources/azure-notification-hubs/poller.js';
import { EverliveClient } from './sources/everlive/client.js';
import { EverlivePoller } from './sources/everlive/poller.js';
import { openStorage } from './tracking/open-storage.js';
import { sourceTargetKey, type Storage } from './tracking/storage.js';
import type { TrackedMessage } from './tracking/types.js';
import { systemClock, type Clock } from './time/clock.js';
import { version } from './version.js';

export interface ExporterOptions {
  config: ExporterConfig;
  logger: Logger;
  clock?: Clock;
  random?: () => number;
  /** Replaces the undici client per hub (benchmarks); tests use the real client against the simulator. */
  createClient?: (target: ExporterConfig['azureNotificationHubs'][number]) => TelemetryClient & { close?: () => Promise<void> };
  processMetrics?: boolean;
  /** Start the Everlive schedules (tests that drive runs by hand turn this off). */
  startEverlive?: boolean;
  /** How often the web config file (and the files it names) is checked for changes. */
  webConfigReloadIntervalMilliseconds?: number;
}

export interface RunningExporter {
  url: string;
  port: number;
  store: Storage;
  metrics: ExporterMetrics;
  pollers: ReadonlyMap<string, HubPoller>;
  everlivePollers: readonly EverlivePoller[];
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
  const { labeler, statusLabeler } = restoreLabelValues(store);

  const pollers = new Map<string, HubPoller>();
  // Targets whose shared gauges this process exports: all of them, unless several replicas share the storage.
  let reporting = new Set<string>();
  const clients: { close?: () => Promise<void> }[] = [];
  const azureTargets = config.azureNotificationHubs.map((target) => ({ source: sourceLabels.azureNotificationHubs, target: target.name }));
  const everliveTargets = config.everlive.map((target) => ({ source: sourceLabels.everlive, target: target.name }));
  const metrics = createExporterMetrics({
    store,
    targets: [...azureTargets, ...everliveTargets],
    azureTargets,
    trackedMessages: () => trackedCounts(pollers),
    trackedStates: ['Pending', ...notificationStates.filter((state) => !terminalStates.has(state))],
    terminalStates: [...terminalStates],
    version,
    processMetrics: options.processMetrics,
    reportsSharedState: (labels) => reporting.has(sourceTargetKey(labels)),
  });

  // The guard is made below; the workers only ask it once running.
  const storageAvailable = () => storageGuard.verify() === undefined;
  const fetchers = new Map<string, ErrorDetailsFetcher>();
  const errorLabels = new BoundedLabelValues(32, /^[A-Za-z][A-Za-z0-9_]{0,63}$/);
  for (const { labels } of store.counters.series(metricNames.pnsErrors)) {
    if (labels.target && labels.error) errorLabels.remember(labels.target, labels.error);
  }
  for (const target of config.azureNotificationHubs) {
    const client = options.createClient?.(target) ?? new NotificationHubsClient(target, clock);
    clients.push(client);
    const azureLogger = logger.child({ source: 'azure_notification_hubs' });
    const fetcher = new ErrorDetailsFetcher({ target, store, metrics, clock, logger: azureLogger, errorLabels, storageAvailable });
    fetchers.set(target.name, fetcher);
    pollers.set(
      target.name,
      new HubPoller({
        target,
        client,
        store,
        metrics,
        labeler,
        clock,
        logger: azureLogger,
        random: options.random,
        onErrorDetails: (pending) => fetcher.add([pending]),
        storageAvailable,
      }),
    );
  }

  const everlivePollers = config.everlive.map((target) => {
    const client = new EverliveClient(target, clock);
    clients.push(client);
    return new EverlivePoller({
      target,
      client,
      store,
      metrics,
      statusLabeler,
      clock,
      logger: logger.child({ source: 'everlive' }),
      storageAvailable,
    });
  });

  const takeWork = async () => {
    reporting = await store.reportingTargets([...azureTargets, ...everliveTargets]);
    const work = await store.claimWork([...pollers.keys()]);
    for (const pending of work.errorDetails) fetchers.get(pending.target)?.add([pending]);
    return { messages: work.messages.length, orphans: distribute(work.messages, pollers) };
  };
  const resumed = await takeWork().catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  if (resumed.orphans > 0) {
    logger.warn({ messages: resumed.orphans }, 'state file tracks messages for targets no longer configured; they are kept but not polled');
  }
  logger.info({ messages: resumed.messages - resumed.orphans, targets: pollers.size }, 'resumed tracking');

  let ready = false;
  let stopping = false;
  const stopWorkers = () => Promise.all([...pollers.values(), ...everlivePollers, ...fetchers.values()].map((worker) => worker.stop()));
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
    track: (messages) => distribute(messages, pollers),
    storageProblem: () => storageGuard.verify(),
    now: () => clock.now(),
    firstPollDelayMilliseconds,
  });
  const exporterServer = createExporterServer(app, security, logger, { reloadIntervalMilliseconds: options.webConfigReloadIntervalMilliseconds });
  const server: Server = exporterServer.server;
  server.listen(config.server.listen.port, config.server.listen.host);
  try {
    await once(server, 'listening');
  } catch (error) {
    exporterServer.stopWatching();
    // Nothing has started yet: release the state file (and its lock) so a restart can take it.
    await Promise.all(clients.map((client) => client.close?.() ?? Promise.resolve()));
    await store.close();
    throw new Error(`cannot listen on ${config.server.listen.host}:${config.server.listen.port}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  const port = (server.address() as AddressInfo).port;
  const host = config.server.listen.host === '0.0.0.0' || config.server.listen.host === '::' ? '127.0.0.1' : config.server.listen.host;
  const url = `${exporterServer.scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  // Polling starts only once the server is up, so a failed start leaves nothing running.
  for (const poller of pollers.values()) poller.start();
  for (const fetcher of fetchers.values()) fetcher.start();
  if (options.startEverlive ?? true) for (const poller of everlivePollers) poller.start();
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
    port,
    store,
    metrics,
    pollers,
    everlivePollers,
    whenIdle: async () => {
      await Promise.all([...pollers.values(), ...fetchers.values()].map((worker) => worker.whenIdle()));
      // A poll may have handed a fetch over just now: wait for that too.
      await Promise.all([...pollers.values(), ...fetchers.values()].map((worker) => worker.whenIdle()));
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
      await Promise.all([...pollers.values(), ...everlivePollers].map((poller) => poller.stop()));
      await Promise.all([...fetchers.values()].map((fetcher) => fetcher.stop()));
      await Promise.all(clients.map((client) => client.close?.() ?? Promise.resolve()));
      server.closeAllConnections();
      await closed;
      await pruning;
      await store.close();
    },
  };
}

/** Label values already counted keep their mapping across restarts. */
function restoreLabelValues(store: Storage): { labeler: OutcomeLabeler; statusLabeler: StatusLabeler } {
  const labeler = new OutcomeLabeler();
  const statusLabeler = new StatusLabeler();
  for (const { labels } of store.counters.series(metricNames.outcomes)) {
    if (labels.source === sourceLabels.azureNotificationHubs && labels.target && labels.outcome) labeler.remember(labels.target, labels.outcome);
  }
  for (const { labels } of store.counters.series(metricNames.messages)) {
    if (labels.source === sourceLabels.everlive && labels.target && labels.state) statusLabeler.remember(labels.target, labels.state);
  }
  return { labeler, statusLabeler };
}

function distribute(messages: Iterable<TrackedMessage>, pollers: ReadonlyMap<string, HubPoller>): number {
  const byTarget = new Map<string, TrackedMessage[]>();
  let orphans = 0;
  for (const message of messages) {
    if (!pollers.has(message.target)) {
      orphans += 1;
      continue;
    }
    const list = byTarget.get(message.target) ?? [];
    list.push(message);
    byTarget.set(message.target, list);
  }
  for (const [target, list] of byTarget) pollers.get(target)?.add(list);
  return orphans;
}

function* trackedCounts(pollers: ReadonlyMap<string, HubPoller>): Iterable<TrackedCount> {
  for (const poller of pollers.values()) {
    for (const [state, count] of poller.trackedCounts()) {
      yield { source: sourceLabels.azureNotificationHubs, target: poller.name, state, count };
    }
  }
}
