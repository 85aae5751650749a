import type { AzureNotificationHubTarget } from '../../config/load.js';
import type { Logger } from '../../logging/logger.js';
import type { ExporterMetrics } from '../../metrics/exporter-metrics.js';
import type { OutcomeLabeler } from '../../metrics/labels.js';
import { histogramBounds, metricNames, sourceLabels } from '../../metrics/names.js';
import { DueQueue } from '../../tracking/due-queue.js';
import type { Storage } from '../../tracking/storage.js';
import { isFailureOutcome } from '../../metrics/outcome-classes.js';
import { WorkLostError, type PendingErrorDetails } from '../../tracking/storage.js';
import { outcomeCountKey, splitOutcomeCountKey, type PollOutcome, type TrackedMessage, type TrackedState } from '../../tracking/types.js';
import { monotonicToWall, wallToMonotonic, type Clock } from '../../time/clock.js';
import { WakeTimer } from '../../time/wake-timer.js';
import { backoff, SourceHealth } from '../shared/source-health.js';
import { UpstreamError, UpstreamHttpError } from '../shared/upstream-errors.js';
import type { TelemetryAnswer } from './client.js';
import { computePollOutcome, expireDecision, type PollDecision } from './poll-outcome.js';
import { maxAgeDeadline, maximumPollGapMilliseconds, withJitter } from './poll-schedule.js';
import { SeriesLabels } from './series-labels.js';

export interface TelemetryClient {
  getNotificationDetails(notificationId: string): Promise<TelemetryAnswer>;
}

export interface HubPollerOptions {
  target: AzureNotificationHubTarget;
  client: TelemetryClient;
  store: Storage;
  metrics: ExporterMetrics;
  labeler: OutcomeLabeler;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** With nothing to poll, ask for a made-up ID this often so source_up stays true to the hub. */
  probeIntervalMilliseconds?: number;
  /** A terminal message carried a PnsErrorDetailsUri (already stored): hand it to the fetcher. */
  onErrorDetails?: (pending: PendingErrorDetails) => void;
  /** False while the storage cannot take answers (its database is unreachable): polling waits. */
  storageAvailable?: () => boolean;
}

/** While the storage is unavailable, how often the poll loop looks whether it is back. */
const storageRetryMilliseconds = 1_000;

/**
 * The idle probe asks for an ID shaped like the hub's own (digits, a dash, a GUID) that no send ever
 * returned. The hub answers 404 (or, for an ID it finds malformed, 400): either is the hub answering.
 */
export const probeNotificationId = '1000000000000000000-00000000-0000-4000-8000-000000000000';
const operations = { details: 'get_notification_details', probe: 'probe' } as const;

/**
 * The poll loop of one hub: a due-queue of tracked messages, at most `concurrency` requests in
 * flight, one timer for the earliest due message. It decides what each answer means: counting
 * (through the store: each answer written whole, in a transaction shared with the answers of the same 20 ms), retries, expiry, back-off and source health.
 *
 * Times in the queue (acceptedAt, nextPollAt, firstFoundAt) are on the monotonic clock, so a step of
 * the wall clock neither stalls polling nor expires messages early; they are converted from the
 * store's wall-clock times in add() and back in commit().
 */
export class HubPoller {
  private readonly queue = new DueQueue<TrackedMessage>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Answers waiting for their group commit; their request slots are already free for the next request. */
  private readonly writes = new Set<Promise<void>>();
  private readonly countsByState = new Map<TrackedState, number>();
  private readonly health: SourceHealth;
  private readonly series: SeriesLabels;
  private readonly random: () => number;
  private readonly probeInterval: number;
  private readonly wake: WakeTimer;
  /**
   * For the per-message line only: its fields are built here from names and counts (no secret and
   * no personal data can be among them), so it skips the redaction pass every other line gets,
   * which walks each field of the nested outcome maps.
   */
  private readonly dataLog: Logger;
  private running = false;
  private lastRequestAt = Number.NEGATIVE_INFINITY;
  private lastSweepAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: HubPollerOptions) {
    this.wake = new WakeTimer(options.clock, () => this.pump());
    this.health = new SourceHealth({
      source: sourceLabels.azureNotificationHubs,
      target: options.target.name,
      metrics: options.metrics,
      clock: options.clock,
      logger: options.logger,
      unauthorizedText: 'hub rejected the credentials (HTTP 401): check SharedAccessKeyName and SharedAccessKey; messages are kept',
      forbiddenText: 'hub refused telemetry (HTTP 403): per-message telemetry needs a Standard tier hub; messages are kept',
    });
    this.series = new SeriesLabels(options.target.name);
    this.random = options.random ?? Math.random;
    this.probeInterval = options.probeIntervalMilliseconds ?? 5 * 60_000;
    this.dataLog = options.logger.child({}, { redact: [] });
  }

  get name(): string {
    return this.options.target.name;
  }

  /** Messages being tracked now, by state (for the tracked_messages gauge). */
  trackedCounts(): ReadonlyMap<TrackedState, number> {
    return this.countsByState;
  }

  /**
   * Takes messages as the store holds them (wall-clock times) and schedules them. A wall clock
   * stepped back while the exporter was down would put stored times in the future: no message
   * waits longer than the longest gap of the schedule, and none was accepted after now.
   */
  add(messages: Iterable<TrackedMessage>): void {
    const now = this.options.clock.monotonic();
    const toMonotonic = (wall: number) => Math.min(wallToMonotonic(this.options.clock, wall), now);
    for (const message of messages) {
      message.acceptedAt = toMonotonic(message.acceptedAt);
      message.nextPollAt = Math.min(wallToMonotonic(this.options.clock, message.nextPollAt), now + maximumPollGapMilliseconds);
      if (message.firstFoundAt !== undefined) message.firstFoundAt = toMonotonic(message.firstFoundAt);
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
    this.wake.cancel();
    await this.whenIdle();
  }

  /** Resolves once no request (nor its write) is in flight (tests move a manual clock, then wait for this). */
  async whenIdle(): Promise<void> {
    while (this.inFlight.size > 0 || this.writes.size > 0) await Promise.allSettled([...this.inFlight, ...this.writes]);
  }

  private pump(): void {
    if (!this.running) return;
    const now = this.options.clock.monotonic();
    if (this.options.storageAvailable?.() === false) {
      // Answers could not be written: asking the hub now would only spend its quota.
      this.wake.wakeAt(now + storageRetryMilliseconds);
      return;
    }
    this.expireOverdueWhileFailing(now);
    if (now < this.health.pausedUntil) {
      this.wake.wakeAt(this.health.pausedUntil);
      return;
    }
    // While the hub is failing, one request at a time probes whether it is back.
    const limit = this.health.healthy ? this.options.target.concurrency : 1;
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
    const nextDue = this.queue.peek()?.nextPollAt ?? Number.POSITIVE_INFINITY;
    const nextProbe = this.lastRequestAt + this.probeInterval;
    this.wake.wakeAt(Math.min(nextDue > now ? nextDue : Number.POSITIVE_INFINITY, nextProbe > now ? nextProbe : Number.POSITIVE_INFINITY));
  }

  private launch(work: () => Promise<void>): void {
    this.lastRequestAt = this.options.clock.monotonic();
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

  /** Exactly as a poll judges it: 404 and 400 are the hub answering about the ID. */
  private async probe(): Promise<void> {
    const round = this.health.round;
    const result = await this.health.request(operations.probe, () => this.options.client.getNotificationDetails(probeNotificationId));
    if (result instanceof UpstreamError && !isMalformedIdAnswer(result)) this.health.recordFailure(result, {}, round);
    else this.health.recordValidAnswer(round);
  }

  private async poll(message: TrackedMessage): Promise<void> {
    const round = this.health.round;
    let result: TelemetryAnswer | UpstreamError;
    try {
      result = await this.health.request(operations.details, () => this.options.client.getNotificationDetails(message.notificationId));
    } catch (error) {
      // Not an upstream answer at all (a bug): keep the message, try again later.
      this.options.logger.error({ target: this.name, notificationId: message.notificationId, error: String(error) }, 'poll failed unexpectedly');
      this.retryLater(message, this.options.clock.monotonic());
      return;
    }
    const now = this.options.clock.monotonic();
    if (isMalformedIdAnswer(result)) {
      // The hub answered, about this ID: it calls it malformed. Handle it like "not found", so the
      // not-found deadline ends it; the hub itself is fine.
      this.health.recordValidAnswer(round);
      const decision = this.decide(message, { kind: 'not_found', status: 404 }, now);
      decision.outcome.lastStatus = result.code;
      this.commitInBackground(message, decision, now);
      return;
    }
    if (result instanceof UpstreamError) {
      this.health.recordFailure(result, { notificationId: message.notificationId }, round);
      if (now >= maxAgeDeadline(message, this.options.target)) {
        this.commitInBackground(message, expireDecision({ ...message, attempts: message.attempts + 1 }, now, 'max_age', result.code, this.series), now);
      } else {
        this.retryLater(message, now);
      }
      return;
    }
    this.health.recordValidAnswer(round);
    this.commitInBackground(message, this.decide(message, result, now), now);
  }

  private decide(message: TrackedMessage, answer: TelemetryAnswer, now: number): PollDecision {
    return computePollOutcome({ message, answer, now, target: this.options.target, labeler: this.options.labeler, random: this.random, series: this.series });
  }

  /**
   * While the hub fails, messages past maxAge are given up without asking (one request at a time
   * would take hours to reach them all), at most once a minute.
   */
  private expireOverdueWhileFailing(now: number): void {
    if (this.health.healthy || now < this.lastSweepAt + 60_000) return;
    this.lastSweepAt = now;
    const target = this.options.target;
    for (const message of this.queue.removeWhere((candidate) => now >= maxAgeDeadline(candidate, target))) {
      this.commitInBackground(message, expireDecision(message, now, 'max_age', 'unanswered', this.series), now);
    }
  }

  /**
   * Commits without holding the request slot, so the next request goes out while this answer waits
   * for the store's group commit (one transaction, one fsync, for the answers that arrive together).
   * The message is back in the queue only once committed; whenIdle() and stop() wait for the write.
   */
  private commitInBackground(message: TrackedMessage, decision: PollDecision, now: number): void {
    const write = this.commit(message, decision, now)
      .catch((error: unknown) => this.options.logger.error({ target: this.name, error: String(error) }, 'poll loop error'))
      .finally(() => {
        this.writes.delete(write);
        this.pump();
      });
    this.writes.add(write);
  }

  /** Persists the decision, then (only after the commit) applies it to the in-memory message. */
  private async commit(message: TrackedMessage, decision: PollDecision, now: number): Promise<void> {
    try {
      await this.options.store.recordPoll(this.toWallClock(decision.outcome));
    } catch (error) {
      if (error instanceof WorkLostError) {
        // Another replica polls it now (it took it over while this one was thought gone): let go.
        this.adjustCount(message.state, -1);
        this.options.logger.info({ target: this.name, notificationId: message.notificationId }, 'message taken over by another replica; not polled here any more');
        return;
      }
      this.options.logger.error(
        { target: this.name, notificationId: message.notificationId, error: String(error) },
        'cannot write poll result to the state file; will poll again',
      );
      message.nextPollAt = now + 30_000;
      this.queue.push(message);
      return;
    }
    this.recordExemplars(message.notificationId, decision, now);
    const previousState = message.state;
    Object.assign(message, decision.message);
    message.failedPolls = 0;
    for (const update of decision.outcome.countUpdates) {
      (message.lastCounts ??= new Map()).set(outcomeCountKey(update.platform, update.outcome), update.count);
    }
    this.adjustCount(previousState, -1);
    if (decision.outcome.finished) {
      this.logFinished(message, decision);
      const errorDetails = decision.outcome.errorDetails;
      if (errorDetails) {
        this.options.onErrorDetails?.({
          target: message.target,
          notificationId: message.notificationId,
          uri: errorDetails.uri,
          attempts: 0,
          nextPollAt: monotonicToWall(this.options.clock, errorDetails.fetchAt),
          firstSeenAt: monotonicToWall(this.options.clock, now),
        });
      }
      return;
    }
    this.adjustCount(message.state, 1);
    this.queue.push(message);
  }

  /** Failure outcomes and durations point at this message in OpenMetrics scrapes. */
  private recordExemplars(notificationId: string, decision: PollDecision, now: number): void {
    const { exemplars } = this.options.metrics;
    const timestamp = monotonicToWall(this.options.clock, now) / 1000;
    for (const increment of decision.outcome.counterIncrements) {
      if (increment.family === metricNames.outcomes && !isFailureOutcome(increment.labels.outcome ?? '')) continue;
      exemplars.set(increment.family, increment.labels, { notificationId, value: increment.value, timestamp });
    }
    for (const observation of decision.outcome.histogramObservations) {
      const bound = histogramBounds.get(observation.family)?.find((candidate) => observation.value <= candidate);
      const labels = this.series.bucket(observation.family, bound === undefined ? '+Inf' : String(bound));
      exemplars.set(`${observation.family}_bucket`, labels, { notificationId, value: observation.value, timestamp });
    }
  }

  private logFinished(message: TrackedMessage, decision: PollDecision): void {
    const reason = decision.outcome.finished?.reason;
    if (reason !== 'terminal') {
      this.options.logger.info({ target: this.name, notificationId: message.notificationId, reason, attempts: message.attempts }, 'gave up tracking message');
      return;
    }
    // One line per message that finished with failures, for log pipelines: which platforms, which
    // outcomes. One pass over the last counts builds both summaries (most messages of a large send
    // have some failures, so this runs for nearly every answer).
    let failures = 0;
    let failureSummary: Record<string, number> | undefined;
    const outcomes: Record<string, Record<string, number>> = {};
    for (const [key, count] of message.lastCounts ?? []) {
      const { platform, outcome, failure } = countKeyParts(key);
      const value = Number(count);
      (outcomes[platform] ??= {})[outcome] = value;
      if (!failure || value === 0) continue;
      failures += value;
      failureSummary ??= {};
      failureSummary[outcome] = (failureSummary[outcome] ?? 0) + value;
    }
    if (failures === 0 && message.state !== 'Abandoned') {
      this.options.logger.debug({ target: this.name, notificationId: message.notificationId, state: message.state }, 'message finished');
      return;
    }
    this.dataLog.info(
      { target: this.name, notificationId: message.notificationId, state: message.state, failures, failureSummary: failureSummary ?? {}, outcomes },
      'notification finished with failures',
    );
  }

  /**
   * An error answer: the message keeps its place in line, after the hub's pause or its own back-off.
   * The message's own back-off starts at the hub's first step, so after one failed burst the hub is
   * asked again within seconds; only a message that keeps failing on its own waits longer.
   */
  private retryLater(message: TrackedMessage, now: number): void {
    message.attempts += 1;
    message.failedPolls = (message.failedPolls ?? 0) + 1;
    const delay = withJitter(backoff(message.failedPolls, 5_000, 5 * 60_000), this.random);
    message.nextPollAt = Math.max(this.health.pausedUntil, now + delay);
    this.queue.push(message);
  }

  /** The decision's times as the store keeps and shows them: wall-clock. */
  private toWallClock(outcome: PollOutcome): PollOutcome {
    // One reading of both clocks for all five times (each conversion would read them again), and
    // every field named (a spread of this many fields costs more, once per answer).
    const offset = monotonicToWall(this.options.clock, 0);
    const { finished, errorDetails } = outcome;
    // Every key listed: the type fails to compile when PollOutcome gains a field not copied here.
    const copy: { [Key in keyof Required<PollOutcome>]: PollOutcome[Key] } = {
      target: outcome.target,
      notificationId: outcome.notificationId,
      state: outcome.state,
      reportedState: outcome.reportedState,
      nextPollAt: outcome.nextPollAt === null ? null : outcome.nextPollAt + offset,
      attempts: outcome.attempts,
      notFoundCount: outcome.notFoundCount,
      lastStatus: outcome.lastStatus,
      polledAt: outcome.polledAt + offset,
      firstFoundAt: outcome.firstFoundAt === undefined ? undefined : outcome.firstFoundAt + offset,
      enqueueTime: outcome.enqueueTime,
      startTime: outcome.startTime,
      endTime: outcome.endTime,
      finished: finished && { at: finished.at + offset, reason: finished.reason },
      countUpdates: outcome.countUpdates,
      counterIncrements: outcome.counterIncrements,
      histogramObservations: outcome.histogramObservations,
      errorDetails: errorDetails && { uri: errorDetails.uri, fetchAt: errorDetails.fetchAt + offset },
    };
    return copy;
  }

  private adjustCount(state: TrackedState, change: number): void {
    const count = (this.countsByState.get(state) ?? 0) + change;
    if (count === 0) this.countsByState.delete(state);
    else this.countsByState.set(state, count);
  }
}

interface CountKeyParts {
  platform: string;
  outcome: string;
  failure: boolean;
}

/**
 * The parts of a last-counts key (platform and outcome as counted), split once per distinct key.
 * Bounded: keys repeat across messages (platforms × outcome names); past the bound they are split
 * every time instead of remembered.
 */
const countKeyCache = new Map<string, CountKeyParts>();
const countKeyCacheLimit = 10_000;

function countKeyParts(key: string): CountKeyParts {
  let parts = countKeyCache.get(key);
  if (parts === undefined) {
    const { platform, outcome } = splitOutcomeCountKey(key);
    parts = { platform, outcome, failure: isFailureOutcome(outcome) };
    if (countKeyCache.size < countKeyCacheLimit) countKeyCache.set(key, parts);
  }
  return parts;
}

/** A 400 about one ID: the hub is up and calls that ID malformed. */
function isMalformedIdAnswer(result: TelemetryAnswer | UpstreamError): result is UpstreamHttpError {
  return result instanceof UpstreamHttpError && result.status === 400;
}
