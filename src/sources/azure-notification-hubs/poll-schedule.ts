import type { AzureNotificationHubTarget } from '../../config/load.js';
import type { TrackedMessage } from '../../tracking/types.js';
import type { NotificationState } from './notification-state.js';

/**
 * When to ask again. The telemetry API documents: on 404 "wait and try again after 10 seconds. This
 * state can continue for up to 30 minutes."
 * https://learn.microsoft.com/rest/api/notificationhubs/get-notification-message-telemetry
 * Most messages finish within seconds, so the first poll at 10 s usually finds them terminal: one
 * request per message. Anything slower is re-polled with growing gaps.
 */
export const minimumPollGapMilliseconds = 10_000;
export const firstPollDelayMilliseconds = 10_000;
/** The longest gap the schedule itself leaves between two polls of a message (Scheduled, back-off). */
export const maximumPollGapMilliseconds = 5 * 60_000;

/** Scheduled sends can be hours or days away; checking every 5 minutes is plenty. */
export const scheduledPollGapMilliseconds = 5 * 60_000;

/**
 * After a 404. A scheduled send's telemetry may well not exist until its scheduled time (unknown:
 * see README "Scheduled sends"), so it is asked for on the Scheduled cadence instead.
 */
export function delayAfterNotFound(notFoundCount: number, scheduled = false): number {
  if (scheduled) return scheduledPollGapMilliseconds;
  // 10 s, 20 s, 40 s, then every 60 s.
  return Math.min(minimumPollGapMilliseconds * 2 ** Math.max(0, notFoundCount - 1), 60_000);
}

type Deadlines = Pick<AzureNotificationHubTarget, 'notFoundDeadlineMilliseconds' | 'maxAgeMilliseconds' | 'scheduledMaxAgeMilliseconds'>;

/**
 * When a message whose telemetry was never found is given up (`not_found`). A scheduled send is
 * followed for scheduledMaxAge instead: it may answer 404 until it is sent, up to 7 days later.
 */
export function notFoundDeadline(message: Pick<TrackedMessage, 'acceptedAt' | 'scheduled'>, target: Deadlines): number {
  return message.acceptedAt + (message.scheduled ? target.scheduledMaxAgeMilliseconds : target.notFoundDeadlineMilliseconds);
}

/** When a message that is not terminal is given up (`max_age`); scheduledMaxAge for a scheduled send. */
export function maxAgeDeadline(message: Pick<TrackedMessage, 'acceptedAt' | 'scheduled'>, target: Deadlines): number {
  return message.acceptedAt + (message.scheduled ? target.scheduledMaxAgeMilliseconds : target.maxAgeMilliseconds);
}

export function delayAfterState(state: NotificationState, unchangedCount: number): number {
  switch (state) {
    case 'Scheduled':
      return scheduledPollGapMilliseconds;
    case 'Unknown':
      return Math.min(30_000 * 2 ** unchangedCount, maximumPollGapMilliseconds);
    default:
      // Enqueued and Processing: 10 s, 15 s, 22.5 s ... up to a minute.
      return Math.min(minimumPollGapMilliseconds * 1.5 ** unchangedCount, 60_000);
  }
}

/** Spreads polls out by adding up to 10%; never makes a gap shorter. */
export function withJitter(delay: number, random: () => number): number {
  return Math.round(delay * (1 + 0.1 * random()));
}

/** The next poll, never later than the message's deadline but never sooner than the minimum gap. */
export function nextPollTime(now: number, delay: number, deadline: number): number {
  const wanted = now + delay;
  return wanted <= deadline ? wanted : Math.max(deadline, now + minimumPollGapMilliseconds);
}
