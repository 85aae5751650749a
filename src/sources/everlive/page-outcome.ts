import { createHash } from 'node:crypto';
import type { StatusLabeler } from '../../metrics/labels.js';
import { metricNames, sourceLabels } from '../../metrics/names.js';
import type { CounterIncrement } from '../../metrics/totals.js';
import type { EverlivePageChange, FeedbackCounts, SeenNotification } from '../../tracking/storage.js';
import { platformName, type EverliveNotification, type ParsedItem } from './feedback.js';

/** A notification whose failures grew in this page, for the structured failure log line. */
export interface FailureGrowth {
  notificationId: string;
  failedGrowth: number;
  platforms: Record<string, FeedbackCounts>;
}

export interface PageOutcome {
  change: Omit<EverlivePageChange, 'cursor'>;
  failures: FailureGrowth[];
  invalid: { key: string; item: Extract<ParsedItem, { valid: false }> }[];
}

const outcomeFields = [
  ['Sent', 'sent'],
  ['Failed', 'failed'],
  ['Deactivated', 'deactivated'],
] as const;

/**
 * Decides what a page of notifications changes: per platform, the growth of Sent, Failed and
 * Deactivated since last seen goes to outcomes_total; a notification seen for the first time counts
 * once in messages_total by its Status; malformed items count once by reason.
 */
export function computePageOutcome(input: {
  target: string;
  items: readonly ParsedItem[];
  rawItems: readonly unknown[];
  seen: ReadonlyMap<string, SeenNotification>;
  now: number;
  statusLabeler: StatusLabeler;
}): PageOutcome {
  const { target, now } = input;
  const labels = { source: sourceLabels.everlive, target };
  const increments = new Map<string, CounterIncrement>();
  const add = (family: string, extra: Record<string, string>, value: number) => {
    if (value <= 0) return;
    const key = `${family}|${JSON.stringify(extra)}`;
    const existing = increments.get(key);
    if (existing) existing.value += value;
    else increments.set(key, { family, labels: { ...labels, ...extra }, value });
  };

  const notifications: EverlivePageChange['notifications'] = [];
  const feedback: EverlivePageChange['feedback'] = [];
  const failures: FailureGrowth[] = [];
  const invalid: PageOutcome['invalid'] = [];
  const invalidItems: EverlivePageChange['invalidItems'] = [];
  // The same notification twice in one page (overlapping reads) must not count twice.
  const latest = new Map<string, EverliveNotification>();

  input.items.forEach((item, index) => {
    if (item.valid) {
      latest.set(item.notification.id, item.notification);
      return;
    }
    // Keyed by Id, or by a hash of the item as served, so re-reading it counts nothing.
    const key = item.id ?? `sha256:${createHash('sha256').update(JSON.stringify(input.rawItems[index] ?? null)).digest('hex')}`;
    invalid.push({ key, item });
    invalidItems.push({ key, increment: { family: metricNames.invalidItems, labels: { ...labels, reason: item.reason }, value: 1 } });
  });

  for (const notification of latest.values()) {
    const previous = input.seen.get(notification.id);
    const status = notification.status ?? null;
    notifications.push({ id: notification.id, status, modifiedAt: notification.modifiedAt });
    if (!previous) add(metricNames.messages, { state: input.statusLabeler.labelFor(target, status ?? 'Unknown') }, 1);
    let failedGrowth = 0;
    for (const counts of notification.feedback) {
      const before = previous?.feedback.get(counts.platformKey) ?? { sent: 0, failed: 0, deactivated: 0 };
      // Counts that shrink are ignored and the highest value kept: what happened cannot un-happen.
      const kept = {
        sent: Math.max(before.sent, counts.sent),
        failed: Math.max(before.failed, counts.failed),
        deactivated: Math.max(before.deactivated, counts.deactivated),
      };
      if (kept.sent === before.sent && kept.failed === before.failed && kept.deactivated === before.deactivated && previous) continue;
      feedback.push({ id: notification.id, platformKey: counts.platformKey, ...kept });
      for (const [outcome, field] of outcomeFields) {
        add(metricNames.outcomes, { platform: platformName(counts.platformKey), outcome }, kept[field] - before[field]);
      }
      failedGrowth += kept.failed - before.failed;
    }
    if (failedGrowth > 0) {
      failures.push({
        notificationId: notification.id,
        failedGrowth,
        platforms: Object.fromEntries(
          notification.feedback.map((counts) => [
            platformName(counts.platformKey),
            { sent: counts.sent, failed: counts.failed, deactivated: counts.deactivated },
          ]),
        ),
      });
    }
  }

  return {
    change: { target, now, notifications, feedback, counterIncrements: [...increments.values()], invalidItems },
    failures,
    invalid,
  };
}
