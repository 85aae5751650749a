import { XMLValidator } from 'fast-xml-parser';
import { canonicalOutcome } from '../../metrics/outcome-classes.js';
import { normaliseState, type NotificationState } from './notification-state.js';
import { createXmlParser, hasDocumentTypeDeclaration } from './xml.js';

/**
 * Pure parser for the NotificationDetails document answered by
 * `GET https://{namespace}.servicebus.windows.net/{hub}/messages/{id}?api-version=2020-06`.
 * https://learn.microsoft.com/rest/api/notificationhubs/get-notification-message-telemetry
 *
 * Elements are matched by local name (any namespace prefix), never by position. Every child whose
 * name ends in `OutcomeCounts` is a platform's outcome collection. `NotificationBody` and `Tags` may
 * hold personal data: they are never read into the result.
 */
export interface OutcomeCount {
  /** A known outcome name in its canonical spelling (`success` → `Success`), any other name verbatim. */
  name: string;
  /** A 64-bit integer upstream; kept exact. */
  count: bigint;
}

export interface PlatformOutcomes {
  /** The collection element, e.g. `ApnsOutcomeCounts`. */
  collection: string;
  /** The collection name without `OutcomeCounts`, lower-cased: `apns`, `fcmv1`, ... */
  platform: string;
  outcomes: OutcomeCount[];
}

export interface NotificationDetails {
  notificationId?: string;
  state: NotificationState;
  /** The state exactly as the service wrote it (for the lookup API). */
  reportedState: string;
  /** Epoch milliseconds (may carry sub-millisecond fractions). */
  enqueueTime?: number;
  startTime?: number;
  endTime?: number;
  targetPlatforms: string[];
  platforms: PlatformOutcomes[];
  pnsErrorDetailsUri?: string;
}

export class NotificationDetailsParseError extends Error {
  override name = 'NotificationDetailsParseError';
}

const maximumCount = 2n ** 63n - 1n;
const outcomeCollectionSuffix = 'OutcomeCounts';

const parser = createXmlParser({ alwaysArray: ['Outcome'] });

export function parseNotificationDetails(xml: string): NotificationDetails {
  refuseDocumentTypeDeclarations(xml);
  const validation = XMLValidator.validate(xml);
  if (validation !== true) {
    const { msg, line, col } = validation.err;
    throw new NotificationDetailsParseError(`malformed XML at line ${line}, column ${col}: ${msg}`);
  }
  let document: Record<string, unknown>;
  try {
    document = parser.parse(xml) as Record<string, unknown>;
  } catch (error) {
    // fast-xml-parser refuses some documents the validator let through (e.g. reserved names).
    throw new NotificationDetailsParseError(`unparseable XML: ${(error as Error).message.slice(0, 200)}`);
  }
  const root = rootElement(document);
  return readNotificationDetails(root);
}

function refuseDocumentTypeDeclarations(xml: string): void {
  // The service never sends a DOCTYPE.
  if (hasDocumentTypeDeclaration(xml)) {
    throw new NotificationDetailsParseError('XML with a DOCTYPE or ENTITY declaration is refused');
  }
}

function rootElement(document: Record<string, unknown>): Record<string, unknown> {
  const names = Object.keys(document);
  if (names.length !== 1 || names[0] !== 'NotificationDetails') {
    throw new NotificationDetailsParseError(
      `expected a NotificationDetails root element, found ${names.length === 0 ? 'none' : names.join(', ')}`,
    );
  }
  const root = document.NotificationDetails;
  if (root === '' || root === undefined) return {};
  if (!isRecord(root)) {
    throw new NotificationDetailsParseError('NotificationDetails has text where child elements were expected');
  }
  return root;
}

function readNotificationDetails(root: Record<string, unknown>): NotificationDetails {
  const reportedState = optionalText(root, 'State');
  if (reportedState === undefined) {
    throw new NotificationDetailsParseError('NotificationDetails has no State element');
  }
  const platforms: PlatformOutcomes[] = [];
  for (const [name, value] of Object.entries(root)) {
    if (name.endsWith(outcomeCollectionSuffix)) platforms.push(readCollection(name, value));
  }
  const targetPlatforms = optionalText(root, 'TargetPlatforms');
  return {
    notificationId: optionalText(root, 'NotificationId'),
    state: normaliseState(reportedState),
    reportedState,
    enqueueTime: optionalTimestamp(root, 'EnqueueTime'),
    startTime: optionalTimestamp(root, 'StartTime'),
    endTime: optionalTimestamp(root, 'EndTime'),
    targetPlatforms: targetPlatforms
      ? targetPlatforms.split(',').map((platform) => platform.trim()).filter((platform) => platform !== '')
      : [],
    platforms,
    pnsErrorDetailsUri: optionalText(root, 'PnsErrorDetailsUri'),
  };
}

function readCollection(collection: string, value: unknown): PlatformOutcomes {
  const platform = collection.slice(0, -outcomeCollectionSuffix.length).toLowerCase() || 'unknown';
  if (Array.isArray(value)) {
    throw new NotificationDetailsParseError(`${collection} appears more than once`);
  }
  // `<ApnsOutcomeCounts/>` is legal and means no outcomes yet.
  if (value === '' || value === undefined) return { collection, platform, outcomes: [] };
  if (!isRecord(value)) {
    throw new NotificationDetailsParseError(`${collection} has text where Outcome elements were expected`);
  }
  const outcomesByName = new Map<string, bigint>();
  const outcomeElements = value.Outcome ?? [];
  if (!Array.isArray(outcomeElements)) {
    throw new NotificationDetailsParseError(`${collection} has malformed Outcome elements`);
  }
  outcomeElements.forEach((outcome: unknown, index) => {
    const where = `${collection}/Outcome[${index + 1}]`;
    if (!isRecord(outcome)) throw new NotificationDetailsParseError(`${where} has no Name and Count`);
    const reportedName = optionalText(outcome, 'Name', where);
    if (!reportedName) throw new NotificationDetailsParseError(`${where} has no Name`);
    // Case-folded here, before anything is keyed on the name: the last-seen counts that delta
    // counting compares with, the state file and the labels all see one spelling.
    const name = canonicalOutcome(reportedName);
    const count = parseCount(optionalText(outcome, 'Count', where), `${where}/Count`);
    // The same name twice in one collection (`Success` and `success` included) is summed rather
    // than silently overwritten.
    const sum = (outcomesByName.get(name) ?? 0n) + count;
    if (sum > maximumCount) throw new NotificationDetailsParseError(`${collection} counts for ${name} exceed a 64-bit integer`);
    outcomesByName.set(name, sum);
  });
  return {
    collection,
    platform,
    outcomes: [...outcomesByName].map(([name, count]) => ({ name, count })),
  };
}

function parseCount(text: string | undefined, where: string): bigint {
  if (text === undefined) throw new NotificationDetailsParseError(`${where} is missing`);
  if (!/^\d{1,20}$/.test(text)) {
    throw new NotificationDetailsParseError(`${where} is not a non-negative integer`);
  }
  const count = BigInt(text);
  if (count > maximumCount) throw new NotificationDetailsParseError(`${where} exceeds a 64-bit integer`);
  return count;
}

function optionalText(element: Record<string, unknown>, name: string, where = 'NotificationDetails'): string | undefined {
  const value = element[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new NotificationDetailsParseError(`${where}/${name} appears more than once`);
  if (typeof value !== 'string') throw new NotificationDetailsParseError(`${where}/${name} must hold text`);
  return value === '' ? undefined : value;
}

// xsd:dateTime as .NET writes it: up to 7 fractional digits, `Z`, an offset, or no zone (UTC).
const timestampPattern =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?$/;

function optionalTimestamp(root: Record<string, unknown>, name: string): number | undefined {
  const text = optionalText(root, name);
  if (text === undefined) return undefined;
  const match = timestampPattern.exec(text);
  if (!match) throw new NotificationDetailsParseError(`NotificationDetails/${name} is not an ISO 8601 timestamp`);
  const [, year, month, day, hour, minute, second, fraction = '', zone = 'Z'] = match;
  // 0001-01-01T00:00:00 is .NET's default(DateTime): the service writes it for "not yet".
  if (year === '0001') return undefined;
  const wholeSeconds = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second));
  if (Number.isNaN(wholeSeconds)) throw new NotificationDetailsParseError(`NotificationDetails/${name} is not a valid date`);
  const offsetMinutes = zone === 'Z' ? 0 : zoneOffsetMinutes(zone);
  const fractionMilliseconds = fraction === '' ? 0 : Number(`0.${fraction}`) * 1000;
  return wholeSeconds + fractionMilliseconds - offsetMinutes * 60_000;
}

function zoneOffsetMinutes(zone: string): number {
  const sign = zone.startsWith('-') ? -1 : 1;
  const [hours, minutes] = zone.slice(1).split(':').map(Number);
  return sign * ((hours ?? 0) * 60 + (minutes ?? 0));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
