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

export function delayAfterNotFound(notFoundCount: number): number {
  // 10 s, 20 s, 40 s, then every 60 s.
  return Math.min(minimumPollGapMilliseconds * 2 ** Math.max(0, notFoundCount - 1), 60_000);
}

export function delayAfterState(state: NotificationState, unchangedCount: number): number {
  switch (state) {
    case 'Scheduled':
      // Scheduled sends can be hours or days away; checking every 5 minutes is plenty.
      return maximumPollGapMilliseconds;
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
