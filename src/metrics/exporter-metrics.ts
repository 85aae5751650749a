import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { Storage } from '../tracking/storage.js';
import { durableCounter, durableHistogram } from './durable-metric.js';
import { ExemplarStore } from './exemplars.js';
import { metricNames } from './names.js';
import type { LabelSet } from './totals.js';

export interface SourceTarget {
  source: string;
  target: string;
}

export interface TrackedCount extends SourceTarget {
  state: string;
  count: number;
}

export interface ExporterMetricsOptions {
  store: Storage;
  /** Every configured target; only their series are shown. */
  targets: readonly SourceTarget[];
  /** Targets whose Azure-only series (tracked, expired, terminal states) are seeded with 0. */
  azureTargets: readonly SourceTarget[];
  /** Point-in-time counts of messages being polled, read at scrape time. */
  trackedMessages: () => Iterable<TrackedCount>;
  /** States shown as 0 for every target even when nothing is in them. */
  trackedStates: readonly string[];
  terminalStates: readonly string[];
  version: string;
  processMetrics?: boolean;
  /**
   * Whether this process exports the gauges of shared state (source_up, last success) of a target.
   * With several replicas on one database one replica per target does, so `sum()` over instances
   * counts each target once (see README "High availability"). Default: every target.
   */
  reportsSharedState?: (labels: SourceTarget) => boolean;
}

/** What SourceHealth sets; shown on scrape only where this process reports the target. */
export interface SharedStateGauge {
  set(labels: SourceTarget, value: number): void;
}

export interface ExporterMetrics {
  registry: Registry;
  /** Recent contributing notification IDs, shown only in OpenMetrics scrapes. */
  exemplars: ExemplarStore;
  upstreamRequests: Counter<'source' | 'target' | 'operation' | 'code'>;
  upstreamRequestDuration: Histogram<'source' | 'target' | 'operation'>;
  sourceUp: SharedStateGauge;
  sourceLastSuccess: SharedStateGauge;
  /** Azure Monitor's scheduled.pending: notifications scheduled and not sent yet, newest minute. */
  hubScheduledPending: SharedStateGauge;
}

/** Hub-wide Azure Monitor counts: families of their own, never added into outcomes_total. */
const hubCounterHelp: readonly [string, string][] = [
  [metricNames.hubOutgoing, 'Pushes to all push services together by result (Azure Monitor outgoing.allpns.*), per settled minute.'],
  [metricNames.hubPushes, 'All outgoing notifications of the hub (Azure Monitor notificationhub.pushes), per settled minute.'],
  [metricNames.hubSends, 'Successful send API calls (Azure Monitor incoming), per settled minute.'],
  [metricNames.hubRequests, 'All incoming requests (Azure Monitor incoming.all.requests), per settled minute.'],
  [metricNames.hubFailedRequests, 'Incoming requests that failed (Azure Monitor incoming.all.failedrequests), per settled minute.'],
  [metricNames.hubScheduledSends, 'Scheduled notifications pushed (Azure Monitor incoming.scheduled), per settled minute.'],
  [metricNames.hubScheduledCancels, 'Scheduled notifications cancelled (Azure Monitor incoming.scheduled.cancel), per settled minute.'],
];

export const droppedDefaultMetrics = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

// Said in every HELP of polled data: the documented exception to "collect on scrape".
const polledNote = 'Polled from the upstream API on its own schedule; a scrape never calls upstream.';

/** Every metric family of the exporter, in a dedicated registry. Contract: ../shared/design.md "Metrics". */
export function createExporterMetrics(options: ExporterMetricsOptions): ExporterMetrics {
  const registry = new Registry();
  const { store, targets } = options;
  const configured = new Set(targets.map(({ source, target }) => `${source}\u0000${target}`));
  const isConfigured = (labels: LabelSet) => configured.has(`${labels.source}\u0000${labels.target}`);
  const register = (metric: unknown) => registry.registerMetric(metric as Metric);

  register(
    durableCounter({
      name: metricNames.outcomes,
      help: `Outcome counts reported upstream per platform and outcome, added by growth since last seen. ${polledNote}`,
      totals: store.counters,
      include: isConfigured,
    }),
  );
  register(
    durableCounter({
      name: metricNames.messages,
      help: `Messages counted once when they reach a terminal state (Azure) or are first seen (Everlive), by state. ${polledNote}`,
      totals: store.counters,
      include: isConfigured,
      seed: () => options.azureTargets.flatMap((target) => options.terminalStates.map((state) => ({ ...target, state }))),
    }),
  );
  register(
    durableCounter({
      name: metricNames.trackingExpired,
      help: 'Messages given up without a terminal state: not_found (telemetry never appeared), max_age (never finished).',
      totals: store.counters,
      include: isConfigured,
      seed: () => options.azureTargets.flatMap((target) => ['not_found', 'max_age'].map((reason) => ({ ...target, reason }))),
    }),
  );
  register(
    durableCounter({
      name: metricNames.pnsErrors,
      help: 'Records in PNS error-details blobs by platform and error.',
      totals: store.counters,
      include: isConfigured,
    }),
  );
  register(
    durableCounter({
      name: metricNames.invalidItems,
      help: 'Upstream items skipped because they were not the documented shape (counted once per item), by reason.',
      totals: store.counters,
      include: isConfigured,
    }),
  );
  // Intake is for Azure IDs only: its series carry target (no source), '' for items naming no
  // configured target, so accepted = Σ messages + Σ expired + Σ tracked can be checked per target.
  const intakeTargets = new Set(['', ...options.azureTargets.map(({ target }) => target)]);
  register(
    durableCounter({
      name: metricNames.intakeNotifications,
      help: 'Notification IDs received by the intake API, by target (empty when unknown) and result: accepted, duplicate, rejected.',
      totals: store.counters,
      include: (labels) => intakeTargets.has(labels.target ?? ''),
      seed: () => [
        { target: '', result: 'rejected' },
        ...options.azureTargets.flatMap(({ target }) => ['accepted', 'duplicate', 'rejected'].map((result) => ({ target, result }))),
      ],
    }),
  );
  for (const [name, help] of hubCounterHelp) {
    register(durableCounter({ name, help: `${help} ${polledNote}`, totals: store.counters, include: isConfigured }));
  }
  register(
    durableHistogram({
      name: metricNames.queueDuration,
      help: `Seconds from EnqueueTime to StartTime of messages that reached a terminal state. ${polledNote}`,
      totals: store.histograms,
      include: isConfigured,
    }),
  );
  register(
    durableHistogram({
      name: metricNames.processingDuration,
      help: `Seconds from StartTime to EndTime of messages that reached a terminal state. ${polledNote}`,
      totals: store.histograms,
      include: isConfigured,
    }),
  );

  new Gauge({
    name: metricNames.trackedMessages,
    help: 'Messages being polled now, by last known state (Pending = telemetry not available yet).',
    labelNames: ['source', 'target', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const target of options.azureTargets) {
        for (const state of options.trackedStates) this.set({ ...target, state }, 0);
      }
      for (const { source, target, state, count } of options.trackedMessages()) this.set({ source, target, state }, count);
    },
  });

  const reports = options.reportsSharedState ?? (() => true);
  const sourceUp = sharedStateGauge(registry, reports, {
    name: metricNames.sourceUp,
    help: 'Whether the last request to this upstream got a valid answer (1) or not (0); a 404 "telemetry not ready" is valid.',
  });
  const sourceLastSuccess = sharedStateGauge(registry, reports, {
    name: metricNames.sourceLastSuccess,
    help: 'Unix time of the last upstream request that got a valid answer.',
  });
  // A level of the hub, not of this process: shown by the replica that reads the hub's metrics.
  const hubScheduledPending = sharedStateGauge(registry, reports, {
    name: metricNames.hubScheduledPending,
    help: `Scheduled notifications not sent yet (Azure Monitor scheduled.pending), its newest minute. ${polledNote}`,
  });
  const upstreamRequests = new Counter({
    name: metricNames.upstreamRequests,
    help: 'Requests made to upstream APIs, by operation and HTTP status code (or timeout, network_error).',
    labelNames: ['source', 'target', 'operation', 'code'] as const,
    registers: [registry],
  });
  const upstreamRequestDuration = new Histogram({
    name: metricNames.upstreamRequestDuration,
    help: 'Duration of requests to upstream APIs in seconds, including reading the body.',
    labelNames: ['source', 'target', 'operation'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  new Gauge({
    name: metricNames.buildInfo,
    help: 'Build information of the exporter; always 1.',
    labelNames: ['version', 'nodejs_version'] as const,
    registers: [registry],
  }).set({ version: options.version, nodejs_version: process.version }, 1);

  if (options.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // prom-client's three totals are gauges named like counters (`promtool check metrics` fails the
    // scrape on them). Each repeats the sum of the per-type gauge beside it (nodejs_active_handles{type}
    // and so on), so they are dropped: `sum(nodejs_active_handles)` is the same number.
    for (const name of droppedDefaultMetrics) registry.removeSingleMetric(name);
  }
  return { registry, exemplars: new ExemplarStore(), upstreamRequests, upstreamRequestDuration, sourceUp, sourceLastSuccess, hubScheduledPending };
}

/** A gauge per target whose series this process shows only while it reports the target. */
function sharedStateGauge(registry: Registry, reports: (labels: SourceTarget) => boolean, definition: { name: string; help: string }): SharedStateGauge {
  const values = new Map<string, { labels: SourceTarget; value: number }>();
  new Gauge({
    ...definition,
    labelNames: ['source', 'target'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, value } of values.values()) if (reports(labels)) this.set({ source: labels.source, target: labels.target }, value);
    },
  });
  return {
    set: (labels, value) => {
      const key = `${labels.source}\u0000${labels.target}`;
      const existing = values.get(key);
      // Set on every answer: the entry is changed in place, not made anew.
      if (existing) existing.value = value;
      else values.set(key, { labels: { source: labels.source, target: labels.target }, value });
    },
  };
}
