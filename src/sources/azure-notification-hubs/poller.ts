import { performance } from 'node:perf_hooks';
import type { AzureNotificationHubTarget } from '../../config/load.js';
import type { Logger } from '../../logging/logger.js';
import type { ExporterMetrics } from '../../metrics/exporter-metrics.js';
import type { OutcomeLabeler } from '../../metrics/labels.js';
import { sourceLabels } from '../../metrics/names.js';
import { DueQueue } from '../../tracking/due-queue.js';
import type { TrackingStore } from '../../tracking/store.js';
import { outcomeCountKey, type TrackedMessage, type TrackedState } from '../../tracking/types.js';
import type { Clock, TimerHandle } from '../../time/clock.js';
import { UpstreamBodyError, UpstreamError, UpstreamHttpError } from '../shared/upstream-errors.js';
import type { TelemetryAnswer } from './client.js';
import { computePollOutcome, type PollDecision } from './poll-outcome.js';
import { backoff, withJitter } from './poll-schedule.js';

export interface TelemetryClient {
  getNotificationDetails(notificationId: string): Promise<TelemetryAnswer>;
}

export interface HubPollerOptions {
  target: AzureNotificationHubTarget;
  client: TelemetryClient;
  store: TrackingStore;
  metrics: ExporterMetrics;
  labeler: OutcomeLabeler;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** With nothing to poll, ask for a made-up ID this often so source_up stays true to the hub. */
  probeIntervalMilliseconds?: number;
}

/** Why the hub is not answering, so each condition is logged once when it starts, not per message. */
type HubHealth = 'unknown' | 'up' | 'unauthorized' | 'forbidden' | 'throttled' | 'failing';

const probeNotificationId = 'push-notification-exporter-probe';
const operations = { details: 'get_notification_details', probe: 'probe' } as const;

/**
 * The poll loop of one hub: a due-queue of tracked messages, at most `concurrency` requests in
 * flight, one timer for the earliest due message. It decides what each answer means: counting
 * (through the store, in one transaction per answer), retries, expiry, back-off and source health.
 */
export class HubPoller {
  private readonly queue = new DueQueue<TrackedMessage>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly countsByState = new Map<TrackedState, number>();
  private readonly labels: { source: string; target: string };
  private readonly random: () => number;
  private readonly probeInterval: number;
  private timer: TimerHandle | undefined;
  private timerDueAt = Number.POSITIVE_INFINITY;
  private running = false;
  private health: HubHealth = 'unknown';
  private consecutiveFailures = 0;
  private pausedUntil = 0;
  private lastRequestAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: HubPollerOptions) {
    this.labels = { source: sourceLabels.azureNotificationHubs, target: options.target.name };
    this.random = options.random ?? Math.random;
    this.probeInterval = options.probeIntervalMilliseconds ?? 5 * 60_000;
  }

  get name(): string {
    return this.options.target.name;
  }

  /** Messages being tracked now, by state (for the tracked_messages gauge). */
  trackedCounts(): ReadonlyMap<TrackedState, number> {
    return this.countsByState;
  }

  add(messages: Iterable<TrackedMessage>): void {
    for (const message of messages) {
      this.queue.push(message);
      this.adjustCount(message.state, 1);
    }
    this.pump();
  }

  start(): void {
    this.running = true;
    this.pump();
  }

  /** Stops taking new work and waits for requests in flight (and their writes) to finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    await this.whenIdle();
  }

  /** Resolves once no request is in flight (tests move a manual clock, then wait for this). */
  async whenIdle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private pump(): void {
    if (!this.running) return;
    const now = this.options.clock.now();
    if (now < this.pausedUntil) {
      this.wakeAt(this.pausedUntil);
      return;
    }
    // While the hub is failing, one request at a time probes whether it is back.
    const limit = this.health === 'up' || this.health === 'unknown' ? this.options.target.concurrency : 1;
    while (this.inFlight.size < limit) {
      const next = this.queue.peek();
      if (!next || next.nextPollAt > now) break;
      this.queue.pop();
      this.launch(() => this.poll(next));
    }
    if (this.inFlight.size === 0 && now >= this.lastRequestAt + this.probeInterval) {
      this.launch(() => this.probe());
    }
    // Work already due waits for a request in flight to finish (which pumps again), not for a timer.
    const wakeTimes = [this.queue.peek()?.nextPollAt ?? Number.POSITIVE_INFINITY, this.lastRequestAt + this.probeInterval];
    this.wakeAt(Math.min(...wakeTimes.filter((time) => time > now)));
  }

  private launch(work: () => Promise<void>): void {
    this.lastRequestAt = this.options.clock.now();
    const task = work()
      .catch((error: unknown) => {
        this.options.logger.error({ target: this.name, error: String(error) }, 'poll loop error');
      })
      .finally(() => {
        this.inFlight.delete(task);
        this.pump();
      });
    this.inFlight.add(task);
  }

  private wakeAt(dueAt: number): void {
    if (!Number.isFinite(dueAt) || (this.timer && this.timerDueAt <= dueAt)) return;
    this.timer?.cancel();
    this.timerDueAt = dueAt;
    this.timer = this.options.clock.setTimer(() => {
      this.timer = undefined;
      this.timerDueAt = Number.POSITIVE_INFINITY;
      this.pump();
    }, dueAt - this.options.clock.now());
  }

  private async request(notificationId: string, operation: string): Promise<TelemetryAnswer | UpstreamError> {
    const started = performance.now();
    let code: string;
    let result: TelemetryAnswer | UpstreamError;
    try {
      result = await this.options.client.getNotificationDetails(notificationId);
      code = String(result.status);
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      result = error;
      code = error.code;
    }
    const { upstreamRequests, upstreamRequestDuration } = this.options.metrics;
    upstreamRequests.inc({ ...this.labels, operation, code });
    upstreamRequestDuration.observe({ ...this.labels, operation }, (performance.now() - started) / 1000);
    return result;
  }

  private async probe(): Promise<void> {
    const result = await this.request(probeNotificationId, operations.probe);
    if (result instanceof UpstreamError) this.recordFailure(result);
    else this.recordValidAnswer();
  }

  private async poll(message: TrackedMessage): Promise<void> {
    const result = await this.request(message.notificationId, operations.details);
    const now = this.options.clock.now();
    if (result instanceof UpstreamError) {
      this.recordFailure(result, message);
      this.retryLater(message, result, now);
      return;
    }
    this.recordValidAnswer();
    const decision = computePollOutcome({
      message,
      answer: result,
      now,
      target: this.options.target,
      labeler: this.options.labeler,
      random: this.random,
    });
    this.commit(message, decision, now);
  }

  /** Persists the decision, then (only after the commit) applies it to the in-memory message. */
  private commit(message: TrackedMessage, decision: PollDecision, now: number): void {
    try {
      this.options.store.recordPoll(decision.outcome);
    } catch (error) {
      this.options.logger.error(
        { target: this.name, notificationId: message.notificationId, error: String(error) },
        'cannot write poll result to the state file; will poll again',
      );
      message.nextPollAt = now + 30_000;
      this.queue.push(message);
      return;
    }
    const previousState = message.state;
    Object.assign(message, decision.message);
    for (const update of decision.outcome.countUpdates) {
      message.lastCounts.set(outcomeCountKey(update.platform, update.outcome), update.count);
    }
    this.adjustCount(previousState, -1);
    if (decision.outcome.finished) {
      this.logFinished(message, decision);
      return;
    }
    this.adjustCount(message.state, 1);
    this.queue.push(message);
  }

  private logFinished(message: TrackedMessage, decision: PollDecision): void {
    const reason = decision.outcome.finished?.reason;
    if (reason === 'terminal') {
      this.options.logger.debug({ target: this.name, notificationId: message.notificationId, state: message.state }, 'message finished');
    } else {
      this.options.logger.info(
        { target: this.name, notificationId: message.notificationId, reason, attempts: message.attempts },
        'gave up tracking message',
      );
    }
  }

  /** An error answer: the message keeps its place in line, after the hub's pause or its own back-off. */
  private retryLater(message: TrackedMessage, error: UpstreamError, now: number): void {
    if (error instanceof UpstreamHttpError && error.status === 400) {
      // The hub calls the request for this ID malformed: handle it like "not found", so the
      // not-found deadline ends it instead of retrying forever.
      const decision = computePollOutcome({
        message,
        answer: { kind: 'not_found', status: 404 },
        now,
        target: this.options.target,
        labeler: this.options.labeler,
        random: this.random,
      });
      decision.outcome.lastStatus = error.code;
      this.commit(message, decision, now);
      return;
    }
    message.attempts += 1;
    const delay = withJitter(backoff(message.attempts, 10_000, 5 * 60_000), this.random);
    message.nextPollAt = Math.max(this.pausedUntil, now + delay);
    this.queue.push(message);
  }

  private recordValidAnswer(): void {
    const { sourceUp, sourceLastSuccess } = this.options.metrics;
    sourceUp.set(this.labels, 1);
    sourceLastSuccess.set(this.labels, this.options.clock.now() / 1000);
    if (this.health !== 'up' && this.health !== 'unknown') {
      this.options.logger.info({ target: this.name, after: this.health }, 'hub answers again');
    }
    this.health = 'up';
    this.consecutiveFailures = 0;
    this.pausedUntil = 0;
  }

  private recordFailure(error: UpstreamError, message?: TrackedMessage): void {
    this.options.metrics.sourceUp.set(this.labels, 0);
    const now = this.options.clock.now();
    if (error instanceof UpstreamBodyError) {
      // A bad document is about one message, not the hub: no pause, a warning per message.
      this.options.logger.warn(
        { target: this.name, notificationId: message?.notificationId, error: error.message },
        'unusable telemetry answer',
      );
      return;
    }
    this.consecutiveFailures += 1;
    const { health, pause, logLevel, text } = classifyFailure(error, this.consecutiveFailures);
    this.pausedUntil = Math.max(this.pausedUntil, now + pause);
    if (health !== this.health) {
      this.options.logger[logLevel](
        { target: this.name, code: error.code, detail: error instanceof UpstreamHttpError ? error.detail : undefined, retryInSeconds: pause / 1000 },
        text,
      );
    }
    this.health = health;
  }

  private adjustCount(state: TrackedState, change: number): void {
    const count = (this.countsByState.get(state) ?? 0) + change;
    if (count === 0) this.countsByState.delete(state);
    else this.countsByState.set(state, count);
  }
}

function classifyFailure(
  error: UpstreamError,
  consecutiveFailures: number,
): { health: HubHealth; pause: number; logLevel: 'error' | 'warn'; text: string } {
  if (error instanceof UpstreamHttpError) {
    const { status, retryAfterMilliseconds } = error;
    if (status === 401) {
      return {
        health: 'unauthorized',
        pause: backoff(consecutiveFailures, 30_000, 10 * 60_000),
        logLevel: 'error',
        text: 'hub rejected the credentials (HTTP 401): check SharedAccessKeyName and SharedAccessKey; messages are kept',
      };
    }
    if (status === 403 && retryAfterMilliseconds === undefined) {
      return {
        health: 'forbidden',
        pause: backoff(consecutiveFailures, 30_000, 10 * 60_000),
        logLevel: 'error',
        text: 'hub refused telemetry (HTTP 403): per-message telemetry needs a Standard tier hub; messages are kept',
      };
    }
    if (status === 429 || status === 503 || status === 403) {
      return {
        health: 'throttled',
        pause: retryAfterMilliseconds ?? backoff(consecutiveFailures, 5_000, 5 * 60_000),
        logLevel: 'warn',
        text: 'hub is throttling telemetry requests; slowing down',
      };
    }
  }
  return {
    health: 'failing',
    pause: backoff(consecutiveFailures, 1_000, 60_000),
    logLevel: 'warn',
    text: 'telemetry request failed; backing off',
  };
}
