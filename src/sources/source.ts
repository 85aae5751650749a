import type { ExporterConfig } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type { ExporterMetrics, SourceTarget } from '../metrics/exporter-metrics.js';
import type { Storage } from '../tracking/storage.js';
import type { Clock } from '../time/clock.js';

/** What every source is built from: the composition root hands the same context to each. */
export interface SourceContext {
  config: ExporterConfig;
  store: Storage;
  metrics: ExporterMetrics;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** False while the storage cannot take writes (a database unreachable, a state file lost): workers wait. */
  storageAvailable: () => boolean;
}

/**
 * One upstream kind (Azure Notification Hubs, Everlive, Azure Monitor) with all its configured
 * targets. The composition root (exporter.ts) only creates, starts, waits for and stops sources;
 * each source records its own health (source_up, last success, upstream requests) through
 * shared/source-health.ts, so nothing here needs to know how an upstream is read.
 */
export interface Source {
  /** Starts polling; called once the HTTP server is up, so a failed start leaves nothing running. */
  start(): void;
  /** Stops polling and waits for in-flight work (writes included) to finish. */
  stop(): Promise<void>;
  /** Releases upstream connections; called after stop(), or instead of start() when start-up fails. */
  close(): Promise<void>;
  /** Resolves once no request or write of this source is in flight (tests move the clock between). */
  whenIdle(): Promise<void>;
}

/**
 * How a source is registered: the targets it owns are known from the config alone (the metrics
 * are created with them, before any source), and `create` builds the running part.
 */
export interface SourceDefinition<S extends Source = Source> {
  /** The (source, target) pairs this source owns: only their series are shown. */
  targets(config: ExporterConfig): SourceTarget[];
  /** May be asynchronous: a source may first import its upstream's client library, only when it has targets. */
  create(context: SourceContext): S | Promise<S>;
}

/** The (source, target) pairs of a list of configured targets. */
export function sourceTargets(label: string, targets: readonly { name: string }[]): SourceTarget[] {
  return targets.map((target) => ({ source: label, target: target.name }));
}
