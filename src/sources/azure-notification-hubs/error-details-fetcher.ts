import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import type { AzureNotificationHubTarget } from '../../config/load.js';
import type { Logger } from '../../logging/logger.js';
import type { ExporterMetrics } from '../../metrics/exporter-metrics.js';
import { BoundedLabelValues, platformLabel } from '../../metrics/labels.js';
import { metricNames, sourceLabels } from '../../metrics/names.js';
import type { CounterIncrement } from '../../metrics/totals.js';
import { DueQueue } from '../../tracking/due-queue.js';
import { WorkLostError, type PendingErrorDetails } from '../../tracking/storage.js';
import type { Storage } from '../../tracking/storage.js';
import { monotonicToWall, wallToMonotonic, type Clock } from '../../time/clock.js';
import { WakeTimer } from '../../time/wake-timer.js';
import { readLimitedBytes } from '../shared/read-body.js';
import { backoff } from '../shared/source-health.js';
import { classifyTransportError } from '../shared/transport-errors.js';
import { UpstreamError } from '../shared/upstream-errors.js';
import { checkErrorDetailsUrl } from './allowed-hosts.js';
import { parsePnsFeedbackBlob, type PnsErrorRecord } from './pns-feedback.js';

const maximumBlobBytes = 8 * 1024 * 1024;
const concurrency = 2;
const operation = 'get_error_details';
const invalidReason = 'invalid_pns_record';

export interface ErrorDetailsFetcherOptions {
  target: AzureNotificationHubTarget;
  store: Storage;
  metrics: ExporterMetrics;
  clock: Clock;
  logger: Logger;
  /** Error names are an open set: bounded per target, shared by all of the target's fetches. */
  errorLabels: BoundedLabelValues;
  /** False while the storage cannot take results (its database is unreachable): fetching waits. */
  storageAvailable?: () => boolean;
}

/**
 * Fetches the PNS error-details blob of terminal messages (a pre-signed Azure Storage URL: plain
 * GET, no Notification Hubs auth), only from allowed hosts, with size and time limits. A blob not
 * there yet is asked for again with back-off for `retryFor`; each record counts once in
 * push_notification_pns_errors_total however often the blob is read. The URL is never logged.
 */
export class ErrorDetailsFetcher {
  private readonly queue = new DueQueue<PendingErrorDetails>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly agent: Agent;
  private readonly wake: WakeTimer;
  private running = false;
  private stopped: Promise<void> | undefined;

  constructor(private readonly options: ErrorDetailsFetcherOptions) {
    this.wake = new WakeTimer(options.clock, () => this.pump());
    const timeout = options.target.requestTimeoutMilliseconds;
    this.agent = new Agent({ connections: concurrency, headersTimeout: timeout, bodyTimeout: timeout, connectTimeout: Math.min(timeout, 10_000) });
  }

  /** Takes fetches with wall-clock times (as stored); the queue runs on the monotonic clock. */
  add(pending: Iterable<PendingErrorDetails>): void {
    for (const details of pending) {
      details.nextPollAt = wallToMonotonic(this.options.clock, details.nextPollAt);
      details.firstSeenAt = wallToMonotonic(this.options.clock, details.firstSeenAt);
      this.queue.push(details);
    }
    this.pump();
  }

  start(): void {
    this.running = true;
    this.pump();
  }

  /** Stops fetching and closes the connections; a second call (storage lost, then SIGTERM) waits for the first. */
  stop(): Promise<void> {
    this.running = false;
    this.wake.cancel();
    this.stopped ??= this.whenIdle().then(() => this.agent.close());
    return this.stopped;
  }

  async whenIdle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private pump(): void {
    if (!this.running) return;
    const now = this.options.clock.monotonic();
    if (this.options.storageAvailable?.() === false) {
      this.wake.wakeAt(now + 1_000);
      return;
    }
    while (this.inFlight.size < concurrency) {
      const next = this.queue.peek();
      if (!next || next.nextPollAt > now) break;
      this.queue.pop();
      const task = this.fetch(next)
        .catch((error: unknown) => this.writeFailed(next, error))
        .finally(() => {
          this.inFlight.delete(task);
          this.pump();
        });
      this.inFlight.add(task);
    }
    const nextDue = this.queue.peek()?.nextPollAt;
    if (nextDue !== undefined && nextDue > now) this.wake.wakeAt(nextDue);
  }

  /** A result that could not be stored: asked again later, unless another replica fetches it now. */
  private writeFailed(details: PendingErrorDetails, error: unknown): void {
    const fields = { target: this.options.target.name, notificationId: details.notificationId };
    if (error instanceof WorkLostError) {
      this.options.logger.info(fields, 'PNS error details taken over by another replica; not fetched here any more');
      return;
    }
    this.options.logger.error({ ...fields, error: String(error) }, 'cannot store PNS error details; will fetch again');
    details.nextPollAt = this.options.clock.monotonic() + 30_000;
    this.queue.push(details);
  }

  private async fetch(details: PendingErrorDetails): Promise<void> {
    const { target, store, logger } = this.options;
    const fields = { target: target.name, notificationId: details.notificationId };
    const check = checkErrorDetailsUrl(details.uri, target.errorDetails.allowedHosts);
    if (!check.allowed) {
      await store.errorDetails.recordAttempt(details, 'refused', 'refused');
      logger.warn({ ...fields, host: check.host, reason: check.reason }, 'PNS error details URL refused, not fetched');
      return;
    }
    details.attempts += 1;
    const result = await this.get(check.url);
    const now = this.options.clock.monotonic();
    if (result.body !== undefined) {
      const { records, invalid, encoding } = parsePnsFeedbackBlob(result.body);
      const counted = await store.errorDetails.recordFetched(details, records, (record) => this.increment(record), this.invalidIncrements(invalid));
      logger.info({ ...fields, records: records.length, counted, invalid, encoding, errors: summarise(records) }, 'PNS error details read');
      if (invalid > 0) {
        // Device errors that cannot be read are lost to the counts: say so (never the content: it holds device tokens).
        logger.warn({ ...fields, invalid, records: records.length, encoding, bytes: result.body.length }, 'PNS error details have unreadable parts, counted in invalid_items_total');
      }
      return;
    }
    if (now - details.firstSeenAt >= target.errorDetails.retryForMilliseconds) {
      await store.errorDetails.recordAttempt(details, 'failed', result.code);
      logger.warn({ ...fields, lastStatus: result.code, attempts: details.attempts }, 'gave up fetching PNS error details');
      return;
    }
    // 404 until the blob is written, or a passing error: ask again later.
    details.nextPollAt = now + backoff(details.attempts, 30_000, 10 * 60_000);
    await store.errorDetails.recordAttempt({ ...details, nextPollAt: monotonicToWall(this.options.clock, details.nextPollAt) }, 'pending', result.code);
    this.queue.push(details);
  }

  /** The blob's bytes on 200 (its encoding is the parser's to find); the status code (or timeout / network_error) either way. */
  private async get(url: URL): Promise<{ code: string; body?: Buffer }> {
    const started = performance.now();
    let code: string;
    let body: Buffer | undefined;
    try {
      const response = await request(url, { method: 'GET', dispatcher: this.agent, signal: AbortSignal.timeout(this.options.target.requestTimeoutMilliseconds) });
      code = String(response.statusCode);
      if (response.statusCode === 200) body = await readLimitedBytes(response.body, maximumBlobBytes, code);
      else await response.body.dump();
    } catch (error) {
      code = error instanceof UpstreamError ? error.code : classifyTransportError(error).code;
      body = undefined;
    }
    const labels = { source: sourceLabels.azureNotificationHubs, target: this.options.target.name, operation };
    this.options.metrics.upstreamRequests.inc({ ...labels, code });
    this.options.metrics.upstreamRequestDuration.observe(labels, (performance.now() - started) / 1000);
    return { code, body };
  }

  /** Counted with the blob's records, in the same transaction: once per blob read. */
  private invalidIncrements(invalid: number): CounterIncrement[] {
    if (invalid === 0) return [];
    const labels = { source: sourceLabels.azureNotificationHubs, target: this.options.target.name, reason: invalidReason };
    return [{ family: metricNames.invalidItems, labels, value: invalid }];
  }

  private increment(record: PnsErrorRecord): CounterIncrement {
    const { target, errorLabels } = this.options;
    return {
      family: metricNames.pnsErrors,
      labels: {
        source: sourceLabels.azureNotificationHubs,
        target: target.name,
        platform: platformLabel(record.platform.toLowerCase()),
        error: errorLabels.labelFor(target.name, record.error),
      },
      value: 1,
    };
  }
}

function summarise(records: readonly PnsErrorRecord[]): Record<string, number> {
  const summary: Record<string, number> = {};
  for (const record of records) summary[record.error] = (summary[record.error] ?? 0) + 1;
  return summary;
}
