import type { AzureNotificationHubTarget } from '../../config/load.js';
import type { OutcomeLabeler } from '../../metrics/labels.js';
import { platformLabel } from '../../metrics/labels.js';
import { metricNames, sourceLabels } from '../../metrics/names.js';
import type { CounterIncrement, HistogramObservation } from '../../metrics/totals.js';
import { outcomeCountKey, type PollOutcome, type TrackedMessage } from '../../tracking/types.js';
import type { TelemetryAnswer } from './client.js';
import type { NotificationDetails } from './notification-details.js';
import { isTerminal } from './notification-state.js';
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
}

/**
 * Decides what a valid answer means for a message: counts grow by delta, a terminal state is counted
 * once with its durations, a message that stays 404 past `notFoundDeadline` or non-terminal past
 * `maxAge` (both `scheduledMaxAge` for a scheduled send) is given up and counted as expired;
 * otherwise the next poll is scheduled.
 */
export function computePollOutcome(input: PollOutcomeInput): PollDecision {
  return input.answer.kind === 'not_found' ? decideNotFound(input) : decideDetails(input, input.answer.details);
}

function decideNotFound({ message, now, target, random }: PollOutcomeInput): PollDecision {
  const attempts = message.attempts + 1;
  const notFoundCount = message.notFoundCount + 1;
  const base = baseOutcome(message, now, '404', attempts, notFoundCount);
  // Telemetry that was there and is gone again is odd; the message is then bounded by maxAge instead.
  const neverFound = message.firstFoundAt === undefined;
  const deadline = neverFound ? notFoundDeadline(message, target) : maxAgeDeadline(message, target);
  if (now >= deadline) {
    return expireDecision({ ...message, attempts, notFoundCount }, now, neverFound ? 'not_found' : 'max_age', '404');
  }
  const nextPollAt = nextPollTime(now, withJitter(delayAfterNotFound(notFoundCount, message.scheduled), random), deadline);
  return { message: { attempts, notFoundCount, nextPollAt }, outcome: { ...base, nextPollAt } };
}

function decideDetails({ message, now, target, labeler, random }: PollOutcomeInput, details: NotificationDetails): PollDecision {
  const attempts = message.attempts + 1;
  const firstFoundAt = message.firstFoundAt ?? now;
  const { countUpdates, counterIncrements } = countGrowth(message, details, labeler);
  const base: PollOutcome = {
    ...baseOutcome(message, now, '200', attempts, message.notFoundCount),
    state: details.state,
    reportedState: details.reportedState,
    firstFoundAt,
    enqueueTime: details.enqueueTime,
    startTime: details.startTime,
    endTime: details.endTime,
    countUpdates,
    counterIncrements,
  };
  const common = { attempts, firstFoundAt, state: details.state };

  if (isTerminal(details.state)) {
    return {
      message: common,
      outcome: {
        ...base,
        nextPollAt: null,
        finished: { at: now, reason: 'terminal' },
        counterIncrements: [...counterIncrements, terminalIncrement(message.target, details.state)],
        histogramObservations: durationObservations(message.target, details),
        // Error details are complete only once the send is done: fetch them from now on.
        errorDetails: details.pnsErrorDetailsUri ? { uri: details.pnsErrorDetailsUri, fetchAt: now } : undefined,
      },
    };
  }
  const deadline = maxAgeDeadline(message, target);
  if (now >= deadline) {
    return {
      message: common,
      outcome: {
        ...base,
        nextPollAt: null,
        finished: { at: now, reason: 'max_age' },
        counterIncrements: [...counterIncrements, expiredIncrement(message.target, 'max_age')],
      },
    };
  }
  const unchangedCount = details.state === message.state ? message.unchangedCount + 1 : 0;
  const delay = withJitter(delayAfterState(details.state, unchangedCount), random);
  const nextPollAt = nextPollTime(now, delay, deadline);
  return { message: { ...common, unchangedCount, nextPollAt }, outcome: { ...base, nextPollAt } };
}

/** Gives a message up without a terminal state (no answer needed: the hub may be down). */
export function expireDecision(message: TrackedMessage, now: number, reason: 'not_found' | 'max_age', lastStatus: string): PollDecision {
  return {
    message: { attempts: message.attempts, notFoundCount: message.notFoundCount },
    outcome: {
      ...baseOutcome(message, now, lastStatus, message.attempts, message.notFoundCount),
      finished: { at: now, reason },
      counterIncrements: [expiredIncrement(message.target, reason)],
    },
  };
}

/** Adds only what grew since the last answer; a count that shrinks is ignored (it never un-happens). */
function countGrowth(
  message: TrackedMessage,
  details: NotificationDetails,
  labeler: OutcomeLabeler,
): Pick<PollOutcome, 'countUpdates' | 'counterIncrements'> {
  const countUpdates: PollOutcome['countUpdates'] = [];
  const increments = new Map<string, CounterIncrement>();
  for (const { platform, outcomes } of details.platforms) {
    for (const { name, count } of outcomes) {
      const previous = message.lastCounts.get(outcomeCountKey(platform, name)) ?? 0n;
      if (count <= previous) continue;
      countUpdates.push({ platform, outcome: name, count });
      const labels = {
        source: sourceLabels.azureNotificationHubs,
        target: message.target,
        platform: platformLabel(platform),
        outcome: labeler.labelFor(message.target, name),
      };
      const key = `${labels.platform}\u0000${labels.outcome}`;
      const existing = increments.get(key);
      const delta = Number(count - previous);
      if (existing) existing.value += delta;
      else increments.set(key, { family: metricNames.outcomes, labels, value: delta });
    }
  }
  return { countUpdates, counterIncrements: [...increments.values()] };
}

function durationObservations(target: string, details: NotificationDetails): HistogramObservation[] {
  const labels = { source: sourceLabels.azureNotificationHubs, target };
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

function terminalIncrement(target: string, state: string): CounterIncrement {
  return { family: metricNames.messages, labels: { source: sourceLabels.azureNotificationHubs, target, state }, value: 1 };
}

function expiredIncrement(target: string, reason: 'not_found' | 'max_age'): CounterIncrement {
  return { family: metricNames.trackingExpired, labels: { source: sourceLabels.azureNotificationHubs, target, reason }, value: 1 };
}
