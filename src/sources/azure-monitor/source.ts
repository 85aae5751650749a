import { metricNames, sourceLabels } from '../../metrics/names.js';
import { sourceTargets, type Source, type SourceContext, type SourceDefinition } from '../source.js';
import { AzureMonitorClient } from './client.js';
import { loadIdentity, type TrustOptions } from './credential.js';
import { AzureMonitorPoller } from './poller.js';

export interface AzureMonitorSourceOptions {
  /** Certificates to trust for Entra ID and ARM in this process (the simulator's); spawned processes use NODE_EXTRA_CA_CERTS. */
  trust?: TrustOptions;
}

/** Azure Monitor platform metrics: one reader per configured hub. */
export class AzureMonitorSource implements Source {
  readonly pollers: readonly AzureMonitorPoller[];

  /** One client per configured target, in the config's order. */
  private constructor(
    context: SourceContext,
    private readonly clients: readonly AzureMonitorClient[],
  ) {
    const { config, store, metrics, clock, storageAvailable } = context;
    const logger = context.logger.child({ source: sourceLabels.azureMonitor });
    this.pollers = config.azureMonitor.map((target, index) => {
      const client = clients[index] as AzureMonitorClient;
      const labels = { source: sourceLabels.azureMonitor, target: target.name };
      const onLevel = (family: string, value: number) => {
        if (family === metricNames.hubScheduledPending) metrics.hubScheduledPending.set(labels, value);
      };
      return new AzureMonitorPoller({ target, client, store: store.azureMonitor, metrics, clock, logger, onLevel, storageAvailable });
    });
  }

  /**
   * Creates the clients, their credentials included, so a credential the identity library refuses
   * fails start-up rather than every poll. @azure/identity is imported only when there is a target to read.
   */
  static async create(context: SourceContext, options: AzureMonitorSourceOptions = {}): Promise<AzureMonitorSource> {
    const targets = context.config.azureMonitor;
    const identity = targets.length > 0 ? await loadIdentity() : undefined;
    const clients = identity ? targets.map((target) => new AzureMonitorClient(target, context.clock, identity, options.trust)) : [];
    return new AzureMonitorSource(context, clients);
  }

  start(): void {
    for (const poller of this.pollers) poller.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.pollers.map((poller) => poller.stop()));
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close()));
  }

  async whenIdle(): Promise<void> {
    await Promise.all(this.pollers.map((poller) => poller.whenIdle()));
  }
}

export function azureMonitorSource(options: AzureMonitorSourceOptions = {}): SourceDefinition<AzureMonitorSource> {
  return {
    targets: (config) => sourceTargets(sourceLabels.azureMonitor, config.azureMonitor),
    create: (context) => AzureMonitorSource.create(context, options),
  };
}
