/**
 * Pure parser for a page of `GET {endpoint}/{appId}/Push/Notifications`: `{"Result":[...],"Count":n}`.
 * Each notification carries a `Feedback` object keyed by platform number with `{Sent, Deactivated, Failed}`.
 * https://docs.telerik.com/platform/backend-services/rest/administration-api/push-notifications/push-read
 * (seed: ../shared/seeds/telerik-push-feedback-howto.md). An item that is not that shape is reported
 * as invalid with a reason; it never stops the page. `Message` and other content are never read.
 *
 * `Feedback` may also carry top-level totals `Sent`/`Failed`/`Deactivated` beside the platform keys:
 * the seed's own filter `{"Feedback.Failed": {"$gt": 0}}` only matches a document that has them.
 * They restate the platform counts, so they are checked for shape and otherwise ignored: counting
 * them too would count every delivery twice, and they carry no platform.
 */
export type InvalidReason = 'missing_id' | 'missing_modified_at' | 'invalid_feedback' | 'invalid_platform' | 'invalid_count';

export interface PlatformFeedback {
  platformKey: string;
  sent: number;
  failed: number;
  deactivated: number;
}

export interface EverliveNotification {
  id: string;
  /** Epoch milliseconds. */
  modifiedAt: number;
  status: string | undefined;
  feedback: PlatformFeedback[];
}

export type ParsedItem =
  | { valid: true; notification: EverliveNotification }
  | { valid: false; reason: InvalidReason; id?: string; modifiedAt?: number; detail: string };

export interface NotificationsPage {
  items: ParsedItem[];
  count?: number;
}

export class EverlivePageError extends Error {
  override name = 'EverlivePageError';
}

/** Platform numbers of Everlive devices (push object fields): bounded label values. */
const platformNames: Record<string, string> = {
  '1': 'windowsphone',
  '2': 'windows',
  '3': 'android',
  '4': 'ios',
  '5': 'osx',
  '6': 'blackberry',
  '7': 'nokia',
  '100': 'unknown',
};

/** Top-level totals beside the platform keys (spelled as the seed's filter spells them). */
const totalKeys: ReadonlySet<string> = new Set(['Sent', 'Failed', 'Deactivated']);
const platformKeyPattern = /^\d{1,4}$/;

export function platformName(platformKey: string): string {
  return platformNames[platformKey] ?? `unknown_${platformKey}`;
}

export function parseNotificationsPage(body: unknown): NotificationsPage {
  if (!isRecord(body) || !Array.isArray(body.Result)) {
    throw new EverlivePageError('expected {"Result": [...], "Count": n}');
  }
  const count = typeof body.Count === 'number' ? body.Count : undefined;
  return { items: body.Result.map(parseItem), count };
}

function parseItem(item: unknown): ParsedItem {
  if (!isRecord(item)) return { valid: false, reason: 'missing_id', detail: 'the item is not an object' };
  const id = typeof item.Id === 'string' && item.Id !== '' ? item.Id : undefined;
  const modifiedAt = typeof item.ModifiedAt === 'string' ? parseIsoDate(item.ModifiedAt) : undefined;
  const invalid = (reason: InvalidReason, detail: string): ParsedItem => ({ valid: false, reason, id, modifiedAt, detail });
  if (!id) return invalid('missing_id', 'Id is missing or not a string');
  if (modifiedAt === undefined) return invalid('missing_modified_at', 'ModifiedAt is missing or not an ISO 8601 date');

  const feedbackValue = item.Feedback;
  const feedback: PlatformFeedback[] = [];
  if (feedbackValue !== undefined && feedbackValue !== null) {
    if (!isRecord(feedbackValue)) return invalid('invalid_feedback', 'Feedback is not an object');
    for (const [key, counts] of Object.entries(feedbackValue)) {
      if (totalKeys.has(key)) {
        if (readCount(counts) === undefined) return invalid('invalid_count', `Feedback.${key} (a total beside the platform keys) is not a non-negative integer`);
        continue;
      }
      if (!platformKeyPattern.test(key)) {
        return invalid('invalid_platform', `Feedback key ${printableKey(key)} is neither a platform number nor a total (Sent, Failed, Deactivated)`);
      }
      if (!isRecord(counts)) return invalid('invalid_feedback', `Feedback.${key} is not an object`);
      const sent = readCount(counts.Sent);
      const failed = readCount(counts.Failed);
      const deactivated = readCount(counts.Deactivated);
      if (sent === undefined || failed === undefined || deactivated === undefined) {
        return invalid('invalid_count', `Feedback.${key} has a count that is not a non-negative integer`);
      }
      feedback.push({ platformKey: key, sent, failed, deactivated });
    }
  }
  const status = typeof item.Status === 'string' || typeof item.Status === 'number' ? String(item.Status) : undefined;
  return { valid: true, notification: { id, modifiedAt, status, feedback } };
}

/** A missing count is 0 (a platform may report only some); anything else must be a whole number ≥ 0. */
function readCount(value: unknown): number | undefined {
  if (value === undefined || value === null) return 0;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** A key as it can go in a log line: printable ASCII, short, quoted. */
function printableKey(key: string): string {
  return JSON.stringify(key.replace(/[^\x20-\x7e]/g, '?').slice(0, 32));
}

const isoDatePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;

function parseIsoDate(text: string): number | undefined {
  if (!isoDatePattern.test(text)) return undefined;
  const time = Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(time) ? undefined : time;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
