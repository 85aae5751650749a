/**
 * The notification documents the fake Everlive server stores, shaped as the seed shows them:
 * `Feedback` keyed by platform number with `{Sent, Deactivated, Failed}`, optionally with top-level
 * totals beside the platform keys (a scenario: Telerik's filter `{"Feedback.Failed":{"$gt":0}}`
 * implies some servers keep them; the documented example has none).
 * https://docs.telerik.com/platform/backend-services/rest/administration-api/push-notifications/push-read
 */
export type StoredNotification = Record<string, unknown> & { Id?: unknown; ModifiedAt?: unknown };

export type FeedbackCountsDocument = { Sent: number; Failed: number; Deactivated: number };

const outcomeKeys = ['Sent', 'Failed', 'Deactivated'] as const;
const platformKeyPattern = /^\d+$/;

export function newNotificationDocument(input: {
  id: string;
  modifiedAt: string;
  platforms: readonly string[];
  status: string | null;
  totals: boolean;
}): StoredNotification {
  const feedback = Object.fromEntries(input.platforms.map((key) => [key, { Sent: 0, Deactivated: 0, Failed: 0 }]));
  const document: StoredNotification = {
    Id: input.id,
    CreatedAt: input.modifiedAt,
    ModifiedAt: input.modifiedAt,
    // Personal data, as real notifications carry: the exporter must never log it.
    Message: 'Hello Jane Doe, your code is 424242',
    Feedback: feedback,
  };
  if (input.status !== null) document.Status = input.status;
  if (input.totals) updateTotals(document);
  return document;
}

/** Adds to one platform's counts (as the push services report back) and stamps ModifiedAt. */
export function growFeedback(
  document: StoredNotification,
  platformKey: string,
  growth: Partial<FeedbackCountsDocument>,
  modifiedAt: string,
  totals: boolean,
): void {
  const feedback = document.Feedback as Record<string, FeedbackCountsDocument>;
  const counts = (feedback[platformKey] ??= { Sent: 0, Deactivated: 0, Failed: 0 });
  for (const key of outcomeKeys) counts[key] += growth[key] ?? 0;
  if (totals) updateTotals(document);
  document.ModifiedAt = modifiedAt;
}

/** Per platform key and outcome, the totals an exact exporter must reach: platform keys only, never the totals. */
export function truthOf(documents: Iterable<StoredNotification>, isValid: (document: StoredNotification) => boolean): Map<string, number> {
  const totals = new Map<string, number>();
  for (const document of documents) {
    if (!isValid(document)) continue;
    for (const [key, counts] of platformEntries(document)) {
      for (const outcome of outcomeKeys) {
        const value = counts[outcome] ?? 0;
        if (value > 0) totals.set(`${key}/${outcome}`, (totals.get(`${key}/${outcome}`) ?? 0) + value);
      }
    }
  }
  return totals;
}

/** `Feedback.Sent/Failed/Deactivated` as the sums over the platform keys. */
function updateTotals(document: StoredNotification): void {
  const feedback = document.Feedback as Record<string, unknown>;
  const platforms = platformEntries(document).map(([, counts]) => counts);
  for (const key of outcomeKeys) feedback[key] = platforms.reduce((total, counts) => total + (counts[key] ?? 0), 0);
}

function platformEntries(document: StoredNotification): [string, Partial<FeedbackCountsDocument>][] {
  const feedback = document.Feedback;
  if (typeof feedback !== 'object' || feedback === null) return [];
  return Object.entries(feedback as Record<string, unknown>).flatMap(([key, counts]) =>
    platformKeyPattern.test(key) && typeof counts === 'object' && counts !== null ? [[key, counts as Partial<FeedbackCountsDocument>]] : [],
  );
}
