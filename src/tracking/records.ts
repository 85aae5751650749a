import { isoTime } from './counting.js';
import type { FinishReason, NewNotification, NotificationRecord, NotificationSummary, TrackedMessage, TrackedState } from './types.js';

/** A message just accepted by the intake, as the poll loop takes it. */
export function newTrackedMessage(item: NewNotification, state: TrackedState, now: number, firstPollAt: number): TrackedMessage {
  return {
    target: item.target,
    notificationId: item.notificationId,
    acceptedAt: now,
    state,
    scheduled: item.scheduled === true,
    nextPollAt: firstPollAt,
    attempts: 0,
    notFoundCount: 0,
    unchangedCount: 0,
  };
}

/** A stored message row as the lookup API shows it (times as ISO 8601). Shared by the backends. */
export interface StoredMessageFields {
  target: string;
  notification_id: string;
  state: string;
  reported_state: string | null;
  scheduled: boolean | number;
  accepted_at: number;
  next_poll_at: number | null;
  attempts: number;
  last_status: string | null;
  last_polled_at: number | null;
  first_found_at: number | null;
  enqueue_time: number | null;
  start_time: number | null;
  end_time: number | null;
  finished_at: number | null;
  finish_reason: string | null;
}

export function recordFields(row: StoredMessageFields): Omit<NotificationRecord, 'outcomes' | 'errorDetails' | 'pnsErrors'> {
  return {
    target: row.target,
    notificationId: row.notification_id,
    state: row.state as TrackedState,
    reportedState: row.reported_state,
    scheduled: row.scheduled === 1 || row.scheduled === true,
    acceptedAt: isoTime(row.accepted_at) as string,
    nextPollAt: row.finished_at === null ? isoTime(row.next_poll_at) : null,
    lastPolledAt: isoTime(row.last_polled_at),
    firstFoundAt: isoTime(row.first_found_at),
    enqueueTime: isoTime(row.enqueue_time),
    startTime: isoTime(row.start_time),
    endTime: isoTime(row.end_time),
    finishedAt: isoTime(row.finished_at),
    finishReason: row.finish_reason as FinishReason | null,
    attempts: row.attempts,
    lastStatus: row.last_status,
  };
}

export function summaryFields(row: StoredMessageFields): NotificationSummary {
  return {
    target: row.target,
    notificationId: row.notification_id,
    state: row.state as TrackedState,
    acceptedAt: isoTime(row.accepted_at) as string,
    finishedAt: isoTime(row.finished_at),
    finishReason: row.finish_reason as FinishReason | null,
    attempts: row.attempts,
    lastStatus: row.last_status,
  };
}

/**
 * One record of a PNS error-details blob, as parsed (sources/azure-notification-hubs/pns-feedback.ts)
 * and stored. Device tokens appear only hashed and shortened.
 */
export interface PnsErrorRecord {
  /** Stable identity of the record, so a re-fetched blob counts nothing twice. */
  key: string;
  feedbackTime?: string;
  platform: string;
  error: string;
  /** `sha256:<first 12 hex>…<last 4 characters>` of the device token. */
  pnsHandle?: string;
  newPnsHandle?: string;
  registrationId?: string;
  installationId?: string;
  notificationId?: string;
}

/** The values of one azure_pns_errors row after (target, notification_id), in the order both backends insert them. */
export function pnsErrorValues(record: PnsErrorRecord): (string | null)[] {
  return [
    record.key,
    record.feedbackTime ?? null,
    record.platform,
    record.error,
    record.pnsHandle ?? null,
    record.newPnsHandle ?? null,
    record.registrationId ?? null,
    record.installationId ?? null,
  ];
}
