import type { AzureMonitorTarget } from '../../config/load.js';
import type { Logger } from '../../logging/logger.js';
import type { ExporterMetrics } from '../../metrics/exporter-metrics.js';
import { sourceLabels } from '../../metrics/names.js';
import { WorkLostError, type AzureMonitorStorage } from '../../tracking/storage.js';
import type { Clock, TimerHandle } from '../../time/clock.js';
import { SourceHealth } from '../shared/source-health.js';
import { UpstreamBodyError, UpstreamError } from '../shared/upstream-errors.js';
import type { AzureMonitorApi } from './client.js';
import { batches, metricsToRead } from './metric-names.js';
import { MetricsAnswerError, parseMetricDefinitions, parseMetricsAnswer } from './metrics-answer.js';
import { countSettledMinutes, maximumWindowsPerRound, planWindow } from './minutes.js';

export interface AzureMonitorPollerOptions {
  target: AzureMonitorTarget;
  client: AzureMonitorApi;
  store: AzureMonitorStorage;
  metrics: ExporterMetrics;
  clock: Clock;
  logger: Logger;
  /** The newest scheduled.pending value of this hub (a level, not durable). */
  onLevel?: (family: string, value: number) => void;
  /** False while the storage cannot take writes (its database is unreachable): rounds are skipped. */
  storageAvailable?: () => boolean;
}

export interface RoundSummary {
  requests: number;
  /** Metrics whose cursor moved (each by one or more minutes). */
  metricsAdvanced: number;
  /** Set when the round stopped early on an upstream error. */
  error?: string;
  /** paused: the upstream asked to wait; other_replica: another replica reads this hub now; storage_unavailable. */
  skipped?: 'paused' | 'other_replica' | 'storage_unavailable';
}

const operations = { definitions: 'list_metric_definitions', metrics: 'list_metrics' } as const;
/** The metrics a hub defines change rarely (when Microsoft adds one): read them again this often. */
const definitionsMaximumAgeMilliseconds = 6 * 3_600_000;

/**
 * Reads one hub's platform metrics every `interval` (timers on the injected clock's monotonic
 * time): the names the hub defines, in batches of at most 20 per request, each batch from its
 * oldest cursor to the present. Settled minutes are committed with their cursors in one
 * transaction per answer. After an outage a batch follows up to four 6-hour windows in a round, so
 * catching up costs at most 4 requests per batch per interval (24 hours of minutes per interval).
 * Rounds never overlap; a Retry-After or back-off delays the next round.
 */
export class AzureMonitorPoller {
  private readonly health: SourceHealth;
  private timer: TimerHandle | undefined;
  private current: Promise<RoundSummary> | undefined;
  private running = false;
  private stopped = false;
  private names: string[] | undefined;
  private namesReadAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: AzureMonitorPollerOptions) {
    this.health = new SourceHealth({
      source: sourceLabels.azureMonitor,
      target: options.target.name,
      metrics: options.metrics,
      clock: options.clock,
      logger: options.logger,
      unauthorizedText: 'Entra ID or Azure Resource Manager rejected the credentials: check tenantId, clientId and clientSecret (or the identity)',
      forbiddenText: 'Azure Resource Manager refused the metrics (HTTP 403): give this identity the Monitoring Reader role on the hub',
    });
  }

  get name(): string {
    return this.options.target.name;
  }

  start(): void {
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    await this.current;
  }

  whenIdle(): Promise<void> {
    return this.current?.then(() => undefined) ?? Promise.resolve();
  }

  /** One round; a round already in progress is joined rather than started again. */
  runOnce(): Promise<RoundSummary> {
    this.current ??= this.round()
      .catch((error: unknown): RoundSummary => {
        if (error instanceof WorkLostError) {
          this.options.logger.info({ target: this.name }, 'Azure Monitor metrics taken over by another replica; this round stopped');
          return { requests: 0, metricsAdvanced: 0, skipped: 'other_replica' };
        }
        this.options.logger.error({ target: this.name, error: String(error) }, 'Azure Monitor read failed');
        return { requests: 0, metricsAdvanced: 0, error: String(error) };
      })
      .finally(() => {
        this.current = undefined;
      });
    return this.current;
  }

  private schedule(delayMilliseconds: number): void {
    if (!this.running) return;
    this.timer?.cancel();
    this.timer = this.options.clock.setTimer(() => {
      this.timer = undefined;
      const startedAt = this.options.clock.monotonic();
      void this.runOnce().then(() => {
        // The next round is one interval after this one started, or once a pause ends.
        const { clock, target } = this.options;
        const next = Math.max(startedAt + target.intervalMilliseconds, this.health.pausedUntil);
        this.schedule(next - clock.monotonic());
      });
    }, delayMilliseconds);
  }

  private async round(): Promise<RoundSummary> {
    const summary: RoundSummary = { requests: 0, metricsAdvanced: 0 };
    if (this.options.clock.monotonic() < this.health.pausedUntil) return { ...summary, skipped: 'paused' };
    if (this.options.storageAvailable?.() === false) return { ...summary, skipped: 'storage_unavailable' };
    // A hub's metrics are hub-wide: one replica reads them at a time; the others skip their rounds.
    if (!(await this.options.store.claimTarget(this.name))) return { ...summary, skipped: 'other_replica' };
    const names = await this.metricNames(summary);
    if (!names) return summary;
    for (const batch of batches(names)) {
      const error = await this.readBatch(batch, summary);
      if (error) return { ...summary, error };
    }
    return summary;
  }

  /** The names to read, from the hub's metric definitions (read again every few hours). */
  private async metricNames(summary: RoundSummary): Promise<string[] | undefined> {
    const { clock, client } = this.options;
    if (this.names && clock.monotonic() - this.namesReadAt < definitionsMaximumAgeMilliseconds) return this.names;
    summary.requests += 1;
    const answer = await this.health.request(operations.definitions, () => client.listMetricDefinitions());
    if (answer instanceof UpstreamError) {
      this.health.recordFailure(answer);
      summary.error = answer.message;
      // Names read before still serve while the definitions cannot be read again.
      return this.health.pausedUntil > clock.monotonic() ? undefined : this.names;
    }
    let defined: string[];
    try {
      defined = parseMetricDefinitions(answer.body);
    } catch (error) {
      if (!(error instanceof MetricsAnswerError)) throw error;
      this.health.recordFailure(new UpstreamBodyError(`unusable metric definitions: ${error.message}`, String(answer.status)));
      summary.error = error.message;
      return this.names;
    }
    this.health.recordValidAnswer();
    this.names = metricsToRead(defined);
    this.namesReadAt = clock.monotonic();
    if (this.names.length === 0) this.options.logger.warn({ target: this.name, defined: defined.length }, 'hub defines none of the Notification Hubs metrics read');
    return this.names;
  }

  /** Reads one batch of names, window after window while it is behind; returns an error text to stop the round. */
  private async readBatch(names: readonly string[], summary: RoundSummary): Promise<string | undefined> {
    const { target, store, clock, client } = this.options;
    for (let windows = 0; windows < maximumWindowsPerRound && !this.stopped; windows += 1) {
      const window = planWindow(names, await store.cursors(target.name), {
        now: clock.now(),
        settleDelayMilliseconds: target.settleDelayMilliseconds,
        initialLookbackMilliseconds: target.initialLookbackMilliseconds,
      });
      summary.requests += 1;
      const answer = await this.health.request(operations.metrics, () => client.listMetrics({ names, start: window.start, end: window.end }));
      if (answer instanceof UpstreamError) {
        this.health.recordFailure(answer);
        return answer.message;
      }
      let series;
      try {
        series = parseMetricsAnswer(answer.body);
      } catch (error) {
        if (!(error instanceof MetricsAnswerError)) throw error;
        this.health.recordFailure(new UpstreamBodyError(`unusable metrics answer: ${error.message}`, String(answer.status)));
        return error.message;
      }
      this.health.recordValidAnswer();
      const read = countSettledMinutes(window, series, target.name, sourceLabels.azureMonitor);
      if (read.cursors.size > 0) await store.commitMinutes({ target: target.name, now: clock.now(), increments: read.increments, cursors: read.cursors });
      summary.metricsAdvanced += read.cursors.size;
      for (const [family, value] of read.levels) this.options.onLevel?.(family, value);
      if (read.unanswered.length > 0) {
        this.options.logger.warn({ target: target.name, metrics: read.unanswered.slice(0, 20) }, 'Azure Monitor answered no data for some metrics; they are asked for again');
      }
      if (!window.behind) return undefined;
    }
    return undefined;
  }
}
