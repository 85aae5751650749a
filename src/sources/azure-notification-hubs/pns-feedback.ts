import { createHash } from 'node:crypto';
import { XMLValidator } from 'fast-xml-parser';
import { createXmlParser, hasDocumentTypeDeclaration } from './xml.js';

/**
 * Pure parser for a PNS error-details blob (the `PnsErrorDetailsUri` of a NotificationDetails): one
 * XML `<PnsFeedback>` record per line, each possibly with its own XML declaration.
 * https://learn.microsoft.com/azure/notification-hubs/notification-hubs-push-notification-feedback
 * `PnsHandle` and `NewPnsHandle` are device tokens: only a short hash and the last characters leave
 * this function; the full token is used only inside the record's identity hash.
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

export interface PnsFeedbackParse {
  records: PnsErrorRecord[];
  /** Records that could not be read (malformed, or without NotificationSystemError). */
  invalid: number;
}

const parser = createXmlParser();

export function parsePnsFeedback(text: string): PnsFeedbackParse {
  if (hasDocumentTypeDeclaration(text)) return { records: [], invalid: 1 };
  const records: PnsErrorRecord[] = [];
  let invalid = 0;
  for (const match of text.matchAll(/<(?:[A-Za-z_][\w.-]*:)?PnsFeedback\b[\s\S]*?<\/(?:[A-Za-z_][\w.-]*:)?PnsFeedback>/g)) {
    const record = readRecord(match[0]);
    if (record) records.push(record);
    else invalid += 1;
  }
  return { records, invalid };
}

function readRecord(xml: string): PnsErrorRecord | undefined {
  if (XMLValidator.validate(xml) !== true) return undefined;
  let document: Record<string, unknown>;
  try {
    document = parser.parse(xml) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const fields = document.PnsFeedback;
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return undefined;
  const text = (name: string): string | undefined => {
    const value = (fields as Record<string, unknown>)[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const error = text('NotificationSystemError');
  if (!error) return undefined;
  const handle = text('PnsHandle');
  const newHandle = text('NewPnsHandle');
  const identity = ['FeedbackTime', 'NotificationSystemError', 'Platform', 'PnsHandle', 'RegistrationId', 'InstallationId', 'NotificationId', 'NewPnsHandle']
    .map((name) => text(name) ?? '')
    .join('\u0000');
  return {
    key: createHash('sha256').update(identity).digest('hex').slice(0, 32),
    feedbackTime: text('FeedbackTime'),
    platform: text('Platform') ?? 'unknown',
    error,
    pnsHandle: redactHandle(handle),
    newPnsHandle: redactHandle(newHandle),
    registrationId: text('RegistrationId'),
    installationId: text('InstallationId'),
    notificationId: text('NotificationId'),
  };
}

/** A device token shown as a short hash plus its last 4 characters: enough to match, not to reuse. */
export function redactHandle(handle: string | undefined): string | undefined {
  if (!handle) return undefined;
  const hash = createHash('sha256').update(handle).digest('hex').slice(0, 12);
  return `sha256:${hash}…${handle.slice(-4)}`;
}
