import { createHash } from 'node:crypto';
import { XMLValidator } from 'fast-xml-parser';
import { createXmlParser, hasDocumentTypeDeclaration } from './xml.js';
import { decodeXmlBytes } from './xml-encoding.js';

import type { PnsErrorRecord } from '../../tracking/records.js';

export type { PnsErrorRecord };

/**
 * Pure parser for a PNS error-details blob (the `PnsErrorDetailsUri` of a NotificationDetails): one
 * XML `<PnsFeedback>` record per line, each possibly with its own XML declaration (real records
 * declare `encoding="utf-16"`; the blob's bytes are decoded by xml-encoding.ts).
 * https://learn.microsoft.com/azure/notification-hubs/notification-hubs-push-notification-feedback
 * `PnsHandle` and `NewPnsHandle` are device tokens: only a short hash and the last characters leave
 * this function; the full token is used only inside the record's identity hash.
 */
export interface PnsFeedbackParse {
  records: PnsErrorRecord[];
  /**
   * Parts that could not be read: records that are malformed or lack NotificationSystemError, a
   * record cut short, and a blob with content but no record at all (an encoding not understood, a
   * proxy's error page). Each is counted, never dropped in silence.
   */
  invalid: number;
}

export interface PnsFeedbackBlobParse extends PnsFeedbackParse {
  /** The encoding the blob was read in (for logs). */
  encoding: string;
}

const parser = createXmlParser();
const prefix = '(?:[A-Za-z_][\\w.-]*:)?';
const recordOpening = `<${prefix}PnsFeedback\\b`;
// A record runs to the first closing tag, but never across the opening of another record: a record
// cut short then does not swallow the good one after it.
const recordPattern = new RegExp(`${recordOpening}(?:(?!${recordOpening})[\\s\\S])*?</${prefix}PnsFeedback>`, 'g');
const openingPattern = new RegExp(recordOpening, 'g');
// What may stand between records: XML declarations, byte order marks (a BOM per record decodes to
// U+FEFF), white space.
const separatorPattern = /<\?xml\s[^?>]*\?>|\uFEFF|\s/g;

/** Decodes a blob's bytes (BOM, byte pattern, declared encoding) and reads its records. */
export function parsePnsFeedbackBlob(bytes: Uint8Array): PnsFeedbackBlobParse {
  const { text, encoding } = decodeXmlBytes(bytes);
  return { ...parsePnsFeedback(text), encoding };
}

export function parsePnsFeedback(text: string): PnsFeedbackParse {
  if (hasDocumentTypeDeclaration(text)) return { records: [], invalid: 1 };
  const records: PnsErrorRecord[] = [];
  const gaps: string[] = [];
  let invalid = 0;
  let end = 0;
  for (const match of text.matchAll(recordPattern)) {
    gaps.push(text.slice(end, match.index));
    end = match.index + match[0].length;
    const record = readRecord(match[0]);
    if (record) records.push(record);
    else invalid += 1;
  }
  gaps.push(text.slice(end));
  return { records, invalid: invalid + unreadableGaps(gaps, records.length + invalid === 0) };
}

/**
 * Text between records counts one invalid part per record opening in it (a record cut short, or
 * never closed), and a blob with content but no record at all counts at least one. Other markup
 * beside readable records (a wrapper element, should the service ever add one) is not a record
 * lost, so it is not counted.
 */
function unreadableGaps(gaps: readonly string[], noRecords: boolean): number {
  let unreadable = 0;
  for (const gap of gaps) {
    if (gap.replace(separatorPattern, '') === '') continue;
    const openings = gap.match(openingPattern)?.length ?? 0;
    unreadable += Math.max(openings, noRecords ? 1 : 0);
  }
  return unreadable;
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
