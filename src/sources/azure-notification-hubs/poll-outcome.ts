import type { AzureNotificationHubTarget } from '../../config/load.js';
import type { OutcomeLabeler } from '../../metrics/labels.js';
import { metricNames } from '../../metrics/names.js';
import type { CounterIncrement, HistogramObservation, LabelSet } from '../../metrics/totals.js';
import { outcomeCountKey, type PollOutcome, type TrackedMessage } from '../../tracking/types.js';
import type { TelemetryAnswer } from './client.js';
import type { NotificationDetails } from './notification-details.js';
import { isTerminal } from './notification-state.js';
import { SeriesLabels } from './series-labels.js';
import { delayAfterNotFound, delayAfterState, maxAgeDeadline, nextPollTime, notFoundDeadline, withJitter } from './poll-schedule.js';

/** What one valid answer changes: the new in-memory fields, and the record the store writes. */
export interface PollDecision {
  message: Partial<Pick<TrackedMessage, 'state' | 'nextPollAt' | 'attempts' | 'notFoundCount' | 'unchangedCount' | 'firstFoundAt'>>;
  outcome: PollOutcome;
}

export interface PollOutcomeInput {
  message: TrackedMessage;
  answer: TelemetryAnswer;
  now: number;
  target: AzureNotificationHubTarget;
  labeler: OutcomeLabeler;
  random: () => number;
  /** The hub's label sets, reused across answers (a fresh set when not given). */
  series?: SeriesLabels;
}

/**
 * Decides what a valid answer means for a message: counts grow by delta, a terminal state is counted
 * once with its durations, a message that stays 404 past `notFoundDeadline` or non-terminal past
 * `maxAge` (both `scheduledMaxAge` for a scheduled send) is given up and counted as expired;
 * otherwise the next poll is scheduled.
 */
export function computePollOutcome(input: PollOutcomeInput): PollDecision {
  const series = input.series ?? new SeriesLabels(input.message.target);
  return input.answer.kind === 'not_found' ? decideNotFound(input, series) : decideDetails(input, input.answer.details, series);
}

function decideNotFound({ message, now, target, random }: PollOutcomeInput, series: SeriesLabels): PollDecision {
  const attempts = message.attempts + 1;
  const notFoundCount = message.notFoundCount + 1;
  const base = baseOutcome(message, now, '404', attempts, notFoundCount);
  // Telemetry that was there and is gone again is odd; the message is then bounded by maxAge instead.
  const neverFound = message.firstFoundAt === undefined;
  const deadline = neverFound ? notFoundDeadline(message, target) : maxAgeDeadline(message, target);
  if (now >= deadline) {
    return expireDecision({ ...message, attempts, notFoundCount }, now, neverFound ? 'not_found' : 'max_age', '404', series);
  }
  const nextPollAt = nextPollTime(now, withJitter(delayAfterNotFound(notFoundCount, message.scheduled), random), deadline);
  return { message: { attempts, notFoundCount, nextPollAt }, outcome: { ...base, nextPollAt } };
}

function decideDetails({ message, now, target, labeler, random }: PollOutcomeInput, details: NotificationDetails, series: SeriesLabels): PollDecision {
  const attempts = message.attempts + 1;
  const firstFoundAt = message.firstFoundAt ?? now;
  const { countUpdates, counterIncrements } = countGrowth(message, details, labeler, series);
  // One outcome object per answer, completed below (no copies: this runs once per polled document).
  const outcome: PollOutcome = baseOutcome(message, now, '200', attempts, message.notFoundCount);
  outcome.state = details.state;
  outcome.reportedState = details.reportedState;
  outcome.firstFoundAt = firstFoundAt;
  outcome.enqueueTime = details.enqueueTime;
  outcome.startTime = details.startTime;
  outcome.endTime = details.endTime;
  outcome.countUpdates = countUpdates;
  outcome.counterIncrements = counterIncrements;
  const common = { attempts, firstFoundAt, state: details.state };

  if (isTerminal(details.state)) {
    outcome.finished = { at: now, reason: 'terminal' };
    counterIncrements.push(terminalIncrement(series, details.state));
    outcome.histogramObservations = durationObservations(series, details);
    // Error details are complete only once the send is done: fetch them from now on.
    if (details.pnsErrorDetailsUri) outcome.errorDetails = { uri: details.pnsErrorDetailsUri, fetchAt: now };
    return { message: common, outcome };
  }
  const deadline = maxAgeDeadline(message, target);
  if (now >= deadline) {
    outcome.finished = { at: now, reason: 'max_age' };
    counterIncrements.push(expiredIncrement(series, 'max_age'));
    return { message: common, outcome };
  }
  const unchangedCount = details.state === message.state ? message.unchangedCount + 1 : 0;
  const delay = withJitter(delayAfterState(details.state, unchangedCount), random);
  const nextPollAt = nextPollTime(now, delay, deadline);
  outcome.nextPollAt = nextPollAt;
  return { message: { ...common, unchangedCount, nextPollAt }, outcome };
}

/** Gives a message up without a terminal state (no answer needed: the hub may be down). */
export function expireDecision(
  message: TrackedMessage,
  now: number,
  reason: 'not_found' | 'max_age',
  lastStatus: string,
  series = new SeriesLabels(message.target),
): PollDecision {
  return {
    message: { attempts: message.attempts, notFoundCount: message.notFoundCount },
    outcome: {
      ...baseOutcome(message, now, lastStatus, message.attempts, message.notFoundCount),
      finished: { at: now, reason },
      counterIncrements: [expiredIncrement(series, reason)],
    },
  };
}

/** Adds only what grew since the last answer; a count that shrinks is ignored (it never un-happens). */
function countGrowth(
  message: TrackedMessage,
  details: NotificationDetails,
  labeler: OutcomeLabeler,
  series: SeriesLabels,
): Pick<PollOutcome, 'countUpdates' | 'counterIncrements'> {
  const countUpdates: PollOutcome['countUpdates'] = [];
  // By label-set object: two names the labeler folds into one (past the cap) share one increment.
  const increments = new Map<LabelSet, CounterIncrement>();
  for (const { platform, outcomes } of details.platforms) {
    for (const { name, count } of outcomes) {
      const previous = message.lastCounts?.get(outcomeCountKey(platform, name)) ?? 0n;
      if (count <= previous) continue;
      countUpdates.push({ platform, outcome: name, count });
      const labels = series.outcome(platform, labeler.labelFor(message.target, name));
      const existing = increments.get(labels);
      const delta = Number(count - previous);
      if (existing) existing.value += delta;
      else increments.set(labels, { family: metricNames.outcomes, labels, value: delta });
    }
  }
  return { countUpdates, counterIncrements: [...increments.values()] };
}

function durationObservations(series: SeriesLabels, details: NotificationDetails): HistogramObservation[] {
  const labels = series.hub;
  const observations: HistogramObservation[] = [];
  const { enqueueTime, startTime, endTime } = details;
  if (enqueueTime !== undefined && startTime !== undefined && startTime >= enqueueTime) {
    observations.push({ family: metricNames.queueDuration, labels, value: (startTime - enqueueTime) / 1000 });
  }
  if (startTime !== undefined && endTime !== undefined && endTime >= startTime) {
    observations.push({ family: metricNames.processingDuration, labels, value: (endTime - startTime) / 1000 });
  }
  return observations;
}

function baseOutcome(message: TrackedMessage, now: number, lastStatus: string, attempts: number, notFoundCount: number): PollOutcome {
  return {
    target: message.target,
    notificationId: message.notificationId,
    state: message.state,
    nextPollAt: null,
    attempts,
    notFoundCount,
    lastStatus,
    polledAt: now,
    countUpdates: [],
    counterIncrements: [],
    histogramObservations: [],
  };
}

function terminalIncrement(series: SeriesLabels, state: string): CounterIncrement {
  return { family: metricNames.messages, labels: series.state(state), value: 1 };
}

function expiredIncrement(series: SeriesLabels, reason: 'not_found' | 'max_age'): CounterIncrement {
  return { family: metricNames.trackingExpired, labels: series.reason(reason), value: 1 };
}
