import { performance } from 'node:perf_hooks';
import type { Logger } from '../../logging/logger.js';
import type { ExporterMetrics } from '../../metrics/exporter-metrics.js';
import type { Clock } from '../../time/clock.js';
import { UpstreamBodyError, UpstreamError, UpstreamHttpError } from './upstream-errors.js';

/** Why an upstream is not answering, so each condition is logged once when it starts, not per request. */
export type HealthCondition = 'unknown' | 'up' | 'unauthorized' | 'forbidden' | 'throttled' | 'failing';

export interface SourceHealthOptions {
  source: string;
  target: string;
  metrics: ExporterMetrics;
  clock: Clock;
  logger: Logger;
  /** What a 401 / a 403 without Retry-After mean for this upstream, for the one log line. */
  unauthorizedText: string;
  forbiddenText: string;
}

/** Unusable documents in a row (no valid answer between) after which the upstream itself counts as failing. */
export const bodyErrorsBeforeBackoff = 3;

/**
 * The poll loop's view of one upstream: records every request (count, duration), decides what an
 * answer means for `source_up`, `source_last_success_timestamp_seconds` and back-off, and logs each
 * change of condition once. Sources only throw typed errors; this decides what they mean.
 *
 * Answers are judged by *round*: a failure starts a new round (one step of back-off, one pause), and
 * every request sent before it belongs to the round that failed. So a burst of answers that were in
 * flight together is one step, not one per answer, and a valid answer to a request sent before the
 * pause began does not end the pause (it says nothing about the upstream after it asked us to wait).
 * Callers that send one request at a time need not pass rounds.
 */
export class SourceHealth {
  private condition: HealthCondition = 'unknown';
  private consecutiveFailures = 0;
  private consecutiveBodyErrors = 0;
  private pauseEnd = Number.NEGATIVE_INFINITY;
  private currentRound = 0;
  private readonly labels: { source: string; target: string };
  private readonly labelSets = new Map<string, { source: string; target: string; operation: string; code?: string }>();

  constructor(private readonly options: SourceHealthOptions) {
    this.labels = { source: options.source, target: options.target };
  }

  /** No request to this upstream before this time (throttling, back-off), on the monotonic clock. */
  get pausedUntil(): number {
    return this.pauseEnd;
  }

  /** True unless the upstream is failing: callers then send one request at a time. */
  get healthy(): boolean {
    return this.condition === 'up' || this.condition === 'unknown';
  }

  /** The round a request sent now belongs to; pass it back with its answer. */
  get round(): number {
    return this.currentRound;
  }

  /** Runs one request, counting it by operation and outcome code; errors come back as values. */
  async request<T extends { status: number }>(operation: string, send: () => Promise<T>): Promise<T | UpstreamError> {
    const started = performance.now();
    let result: T | UpstreamError;
    try {
      result = await send();
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      result = error;
    }
    const code = result instanceof UpstreamError ? result.code : String(result.status);
    const counted = (result instanceof UpstreamError ? result.operation : undefined) ?? operation;
    const { upstreamRequests, upstreamRequestDuration } = this.options.metrics;
    upstreamRequests.inc(this.requestLabels(counted, code));
    upstreamRequestDuration.observe(this.requestLabels(counted), (performance.now() - started) / 1000);
    return result;
  }

  /** One label object per operation and code (a handful), not two new ones per request. */
  private requestLabels(operation: string, code?: string): { source: string; target: string; operation: string; code?: string } {
    const key = code === undefined ? operation : `${operation}\u0000${code}`;
    let labels = this.labelSets.get(key);
    if (labels === undefined) {
      labels = code === undefined ? { ...this.labels, operation } : { ...this.labels, operation, code };
      // Codes are HTTP statuses and a few error names: bounded, but never let a cache grow without end.
      if (this.labelSets.size < 1_000) this.labelSets.set(key, labels);
    }
    return labels;
  }

  recordValidAnswer(round = this.currentRound): void {
    const { sourceUp, sourceLastSuccess } = this.options.metrics;
    sourceLastSuccess.set(this.labels, this.options.clock.now() / 1000);
    // Sent before the latest failure: that failure is the newer word on the upstream.
    if (round < this.currentRound) return;
    sourceUp.set(this.labels, 1);
    if (!this.healthy) this.options.logger.info({ target: this.labels.target, after: this.condition }, 'upstream answers again');
    this.condition = 'up';
    this.consecutiveFailures = 0;
    this.consecutiveBodyErrors = 0;
  }

  /** An invalid answer: source down, and for transport and HTTP errors a pause before the next try. */
  recordFailure(error: UpstreamError, context: Record<string, unknown> = {}, round = this.currentRound): void {
    this.options.metrics.sourceUp.set(this.labels, 0);
    if (error instanceof UpstreamBodyError) {
      // A bad document is about that answer, not the upstream: a warning each time, and no pause...
      this.options.logger.warn({ target: this.labels.target, ...context, error: error.message }, 'unusable upstream answer');
      this.consecutiveBodyErrors += 1;
      // ...unless nothing but bad documents comes back (a broken proxy, a 50 MB error page, a hostile
      // server): then the upstream is failing, and it is backed off like a 5xx.
      if (this.consecutiveBodyErrors < bodyErrorsBeforeBackoff) return;
    }
    const now = this.options.clock.monotonic();
    if (round < this.currentRound) {
      // Part of a burst already counted: no new step, but an explicit longer Retry-After still holds.
      const asked = error instanceof UpstreamHttpError ? error.retryAfterMilliseconds : undefined;
      if (asked !== undefined) this.pauseEnd = Math.max(this.pauseEnd, now + asked);
      return;
    }
    this.currentRound += 1;
    this.consecutiveFailures += 1;
    const { condition, pause, level, text } = this.classify(error);
    this.pauseEnd = Math.max(this.pauseEnd, now + pause);
    if (condition !== this.condition) {
      const detail = error instanceof UpstreamHttpError ? error.detail : undefined;
      const retryInSeconds = (this.pauseEnd - now) / 1000;
      this.options.logger[level]({ target: this.labels.target, code: error.code, detail, retryInSeconds }, text);
    }
    this.condition = condition;
  }

  private classify(error: UpstreamError): { condition: HealthCondition; pause: number; level: 'error' | 'warn'; text: string } {
    const failures = this.consecutiveFailures;
    const asked = error instanceof UpstreamHttpError ? error.retryAfterMilliseconds : undefined;
    if (error instanceof UpstreamHttpError) {
      const { status } = error;
      if (error.rejectsCredentials) {
        return { condition: 'unauthorized', pause: backoff(failures, 30_000, 10 * 60_000), level: 'error', text: this.options.unauthorizedText };
      }
      if (status === 403 && asked === undefined) {
        return { condition: 'forbidden', pause: backoff(failures, 30_000, 10 * 60_000), level: 'error', text: this.options.forbiddenText };
      }
      if (status === 429 || status === 503 || status === 403) {
        return {
          condition: 'throttled',
          pause: asked ?? backoff(failures, 5_000, 5 * 60_000),
          level: 'warn',
          text: 'upstream is throttling requests; slowing down',
        };
      }
    }
    // 500, 502, 504, timeouts, network errors: a server that says when to come back is believed.
    return { condition: 'failing', pause: asked ?? backoff(failures, 1_000, 60_000), level: 'warn', text: 'upstream request failed; backing off' };
  }
}

/** `base`, doubling with each consecutive failure, up to `maximum`. */
export function backoff(consecutiveFailures: number, base: number, maximum: number): number {
  return Math.min(base * 2 ** Math.max(0, consecutiveFailures - 1), maximum);
}
