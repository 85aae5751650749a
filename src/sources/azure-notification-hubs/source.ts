import type { AzureNotificationHubTarget } from '../../config/load.js';
import type { TrackedCount } from '../../metrics/exporter-metrics.js';
import { BoundedLabelValues, OutcomeLabeler } from '../../metrics/labels.js';
import { metricNames, sourceLabels } from '../../metrics/names.js';
import type { PendingErrorDetails, Storage } from '../../tracking/storage.js';
import type { TrackedMessage } from '../../tracking/types.js';
import { sourceTargets, type Source, type SourceContext, type SourceDefinition } from '../source.js';
import { NotificationHubsClient } from './client.js';
import { ErrorDetailsFetcher } from './error-details-fetcher.js';
import { HubPoller, type TelemetryClient } from './poller.js';

export type ClosableTelemetryClient = TelemetryClient & { close?: () => Promise<void> };

export interface AzureNotificationHubsSourceOptions {
  /** Replaces the undici client per hub (benchmarks); tests use the real client against the simulator. */
  createClient?: (target: AzureNotificationHubTarget) => ClosableTelemetryClient;
}

/**
 * Azure Notification Hubs per-message telemetry: one poll loop and one error-details fetcher per
 * hub, fed by the intake API (`track`) and by the work the storage hands over (`claimWork`): at
 * start what it still tracks, later what a replica that stopped left.
 */
export class AzureNotificationHubsSource implements Source {
  readonly pollers = new Map<string, HubPoller>();
  private readonly fetchers = new Map<string, ErrorDetailsFetcher>();
  private readonly clients: ClosableTelemetryClient[] = [];
  private readonly store: Storage;

  constructor(context: SourceContext, options: AzureNotificationHubsSourceOptions = {}) {
    const { config, store, metrics, clock, random, storageAvailable } = context;
    this.store = store;
    const logger = context.logger.child({ source: sourceLabels.azureNotificationHubs });
    const labeler = restoreOutcomeLabels(store);
    const errorLabels = restoreErrorLabels(store);
    for (const target of config.azureNotificationHubs) {
      const client = options.createClient?.(target) ?? new NotificationHubsClient(target, clock);
      this.clients.push(client);
      const fetcher = new ErrorDetailsFetcher({ target, store, metrics, clock, logger, errorLabels, storageAvailable });
      this.fetchers.set(target.name, fetcher);
      const onErrorDetails = (pending: PendingErrorDetails) => fetcher.add([pending]);
      this.pollers.set(target.name, new HubPoller({ target, client, store, metrics, labeler, clock, logger, random, onErrorDetails, storageAvailable }));
    }
  }

  /**
   * Takes up the messages and error-details fetches the storage hands this process (see
   * Storage.claimWork); returns how many messages, and how many of them name no configured hub.
   */
  async claimWork(): Promise<{ messages: number; orphans: number }> {
    const work = await this.store.claimWork([...this.pollers.keys()]);
    for (const pending of work.errorDetails) this.fetchers.get(pending.target)?.add([pending]);
    return { messages: work.messages.length, orphans: this.track(work.messages) };
  }

  /** Hands messages to their hub's poll loop; returns how many name no configured hub. */
  track(messages: Iterable<TrackedMessage>): number {
    const byTarget = new Map<string, TrackedMessage[]>();
    let orphans = 0;
    for (const message of messages) {
      if (!this.pollers.has(message.target)) {
        orphans += 1;
        continue;
      }
      const list = byTarget.get(message.target) ?? [];
      list.push(message);
      byTarget.set(message.target, list);
    }
    for (const [target, list] of byTarget) this.pollers.get(target)?.add(list);
    return orphans;
  }

  /** Messages being polled now, per hub and state (the tracked_messages gauge, read at scrape). */
  *trackedCounts(): Iterable<TrackedCount> {
    for (const poller of this.pollers.values()) {
      for (const [state, count] of poller.trackedCounts()) {
        yield { source: sourceLabels.azureNotificationHubs, target: poller.name, state, count };
      }
    }
  }

  start(): void {
    for (const poller of this.pollers.values()) poller.start();
    for (const fetcher of this.fetchers.values()) fetcher.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.pollers.values()].map((poller) => poller.stop()));
    await Promise.all([...this.fetchers.values()].map((fetcher) => fetcher.stop()));
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close?.() ?? Promise.resolve()));
  }

  async whenIdle(): Promise<void> {
    const workers = [...this.pollers.values(), ...this.fetchers.values()];
    await Promise.all(workers.map((worker) => worker.whenIdle()));
    // A poll may have handed a fetch over just now: wait for that too.
    await Promise.all(workers.map((worker) => worker.whenIdle()));
  }
}

/** Outcome names already counted keep their label mapping across restarts. */
function restoreOutcomeLabels(store: Storage): OutcomeLabeler {
  const labeler = new OutcomeLabeler();
  for (const { labels } of store.counters.series(metricNames.outcomes)) {
    if (labels.source === sourceLabels.azureNotificationHubs && labels.target && labels.outcome) labeler.remember(labels.target, labels.outcome);
  }
  return labeler;
}

/** PNS error names are an open set: bounded per target, remembered across restarts. */
function restoreErrorLabels(store: Storage): BoundedLabelValues {
  const errorLabels = new BoundedLabelValues(32, /^[A-Za-z][A-Za-z0-9_]{0,63}$/);
  for (const { labels } of store.counters.series(metricNames.pnsErrors)) {
    if (labels.target && labels.error) errorLabels.remember(labels.target, labels.error);
  }
  return errorLabels;
}

export function azureNotificationHubsSource(options: AzureNotificationHubsSourceOptions = {}): SourceDefinition<AzureNotificationHubsSource> {
  return {
    targets: (config) => sourceTargets(sourceLabels.azureNotificationHubs, config.azureNotificationHubs),
    create: (context) => new AzureNotificationHubsSource(context, options),
  };
}
