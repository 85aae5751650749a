import { StatusLabeler } from '../../metrics/labels.js';
import { metricNames, sourceLabels } from '../../metrics/names.js';
import type { Storage } from '../../tracking/storage.js';
import { sourceTargets, type Source, type SourceContext, type SourceDefinition } from '../source.js';
import { EverliveClient } from './client.js';
import { EverlivePoller } from './poller.js';

export interface EverliveSourceOptions {
  /** Start the schedules (tests that drive runs by hand turn this off). */
  startSchedules?: boolean;
}

/** Telerik Everlive push feedback: one scheduled reader per configured app. */
export class EverliveSource implements Source {
  readonly pollers: readonly EverlivePoller[];
  private readonly clients: EverliveClient[] = [];

  constructor(
    context: SourceContext,
    private readonly options: EverliveSourceOptions = {},
  ) {
    const { config, store, metrics, clock, storageAvailable } = context;
    const statusLabeler = restoreStatusLabels(store);
    const logger = context.logger.child({ source: sourceLabels.everlive });
    this.pollers = config.everlive.map((target) => {
      const client = new EverliveClient(target, clock);
      this.clients.push(client);
      return new EverlivePoller({ target, client, store, metrics, statusLabeler, clock, logger, storageAvailable });
    });
  }

  start(): void {
    if (this.options.startSchedules ?? true) for (const poller of this.pollers) poller.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.pollers.map((poller) => poller.stop()));
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close()));
  }

  /** Runs are joined by whoever started them (the schedule, or a test's runOnce()): nothing to wait for here. */
  whenIdle(): Promise<void> {
    return Promise.resolve();
  }
}

/** Everlive Status values already counted keep their label mapping across restarts. */
function restoreStatusLabels(store: Storage): StatusLabeler {
  const statusLabeler = new StatusLabeler();
  for (const { labels } of store.counters.series(metricNames.messages)) {
    if (labels.source === sourceLabels.everlive && labels.target && labels.state) statusLabeler.remember(labels.target, labels.state);
  }
  return statusLabeler;
}

export function everliveSource(options: EverliveSourceOptions = {}): SourceDefinition<EverliveSource> {
  return {
    targets: (config) => sourceTargets(sourceLabels.everlive, config.everlive),
    create: (context) => new EverliveSource(context, options),
  };
}
