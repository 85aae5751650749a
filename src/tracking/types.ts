import type { NotificationState } from '../sources/azure-notification-hubs/notification-state.js';
import type { CounterIncrement, HistogramObservation } from '../metrics/totals.js';
import type { StoredPnsError } from './storage.js';

/** `Pending` = accepted, telemetry not available yet (the hub still answers 404). */
export type TrackedState = 'Pending' | NotificationState;

export type FinishReason = 'terminal' | 'not_found' | 'max_age';

/** A message being polled; the poller keeps these in memory, the store keeps them durable. */
export interface TrackedMessage {
  target: string;
  notificationId: string;
  acceptedAt: number;
  state: TrackedState;
  nextPollAt: number;
  attempts: number;
  notFoundCount: number;
  /**
   * Accepted as a scheduled send (a /schedulednotifications/ Location, or `scheduled: true`): its
   * telemetry may not exist until the scheduled time, so `scheduledMaxAge` bounds it instead of
   * `notFoundDeadline` and `maxAge`.
   */
  scheduled: boolean;
  /** Consecutive answers with the same non-terminal state; spaces re-polls out. Not persisted. */
  unchangedCount: number;
  /** Consecutive failed requests for this message (the hub's own back-off comes first). Not persisted. */
  failedPolls?: number;
  firstFoundAt?: number;
  /**
   * Last counts seen, keyed by `outcomeCountKey(platform, outcome)` with the outcome name as counted:
   * a known name in its canonical spelling (canonicalOutcome), so `success` in one answer and
   * `Success` in the next are one count, and only its growth is added. Absent until counts are
   * first seen: an empty Map on every waiting message would be a third of its memory.
   */
  lastCounts?: Map<string, bigint>;
}

export function outcomeCountKey(platform: string, outcome: string): string {
  return `${platform}\u0000${outcome}`;
}

export function splitOutcomeCountKey(key: string): { platform: string; outcome: string } {
  const separator = key.indexOf('\u0000');
  return { platform: key.slice(0, separator), outcome: key.slice(separator + 1) };
}

export interface NewNotification {
  target: string;
  notificationId: string;
  /** A scheduled send: tracked from state `Scheduled` (see TrackedMessage.scheduled). */
  scheduled?: boolean;
}

/** Everything one poll answer changes, written in one transaction. */
export interface PollOutcome {
  target: string;
  notificationId: string;
  state: TrackedState;
  reportedState?: string;
  nextPollAt: number | null;
  attempts: number;
  notFoundCount: number;
  lastStatus: string;
  polledAt: number;
  firstFoundAt?: number;
  enqueueTime?: number;
  startTime?: number;
  endTime?: number;
  finished?: { at: number; reason: FinishReason };
  /** New last-seen counts (only those that changed). */
  countUpdates: { platform: string; outcome: string; count: bigint }[];
  counterIncrements: CounterIncrement[];
  histogramObservations: HistogramObservation[];
  /** A terminal message's PnsErrorDetailsUri, to fetch from `fetchAt` on. */
  errorDetails?: { uri: string; fetchAt: number };
}

export interface NotificationRecord {
  target: string;
  notificationId: string;
  state: TrackedState;
  reportedState: string | null;
  scheduled: boolean;
  acceptedAt: string;
  nextPollAt: string | null;
  lastPolledAt: string | null;
  firstFoundAt: string | null;
  enqueueTime: string | null;
  startTime: string | null;
  endTime: string | null;
  finishedAt: string | null;
  finishReason: FinishReason | null;
  attempts: number;
  lastStatus: string | null;
  outcomes: Record<string, Record<string, number>>;
  /** The PNS error-details fetch (never the blob URL itself: it is a pre-signed secret). */
  errorDetails?: { state: string; attempts: number; lastStatus: string | null };
  /** PNS error records, device tokens redacted. */
  pnsErrors?: StoredPnsError[];
}

export interface NotificationSummary {
  target: string;
  notificationId: string;
  state: TrackedState;
  acceptedAt: string;
  finishedAt: string | null;
  finishReason: FinishReason | null;
  attempts: number;
  lastStatus: string | null;
}
