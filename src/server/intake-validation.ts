import type { AzureNotificationHubTarget } from '../config/load.js';
import { parseLocation, type ParsedLocation } from '../sources/azure-notification-hubs/location.js';
import type { NewNotification } from '../tracking/types.js';

export const maximumItemsPerRequest = 1000;
export const maximumNotificationIdLength = 256;

export interface ItemError {
  index: number;
  error: string;
}

export type IntakeValidation =
  | { ok: true; items: NewNotification[] }
  | {
      ok: false;
      error: string;
      items: ItemError[];
      /** One entry per refused item: the configured target it names, or '' when that is unknown. */
      rejectedTargets: string[];
    };

// Printable ASCII without separators that would change the telemetry URL's meaning.
const notificationIdPattern = /^[\x21-\x7e]+$/;
const forbiddenIdCharacters = /[/?#%\\]/;
const itemFields = ['target', 'notificationId', 'location', 'scheduled'];

/**
 * Validates an intake body: one item or an array of up to 1000. All-or-nothing: one bad item and
 * nothing is stored, with an error per bad item. Contract: ../shared/design.md "Intake API".
 */
export function validateIntake(body: unknown, targets: readonly AzureNotificationHubTarget[]): IntakeValidation {
  const list = Array.isArray(body) ? (body as unknown[]) : [body];
  if (Array.isArray(body) && list.length === 0) return { ok: false, error: 'the array is empty', items: [], rejectedTargets: [''] };
  if (list.length > maximumItemsPerRequest) {
    return {
      ok: false,
      error: `too many items: ${list.length} (at most ${maximumItemsPerRequest} per request)`,
      items: [],
      rejectedTargets: list.map((item) => targetNamedBy(item, targets)),
    };
  }
  const items: NewNotification[] = [];
  const errors: ItemError[] = [];
  list.forEach((item, index) => {
    const result = validateItem(item, targets);
    if (typeof result === 'string') errors.push({ index, error: result });
    else items.push(result);
  });
  if (errors.length > 0) {
    const summary = Array.isArray(body)
      ? `${errors.length} of ${list.length} items are invalid; nothing was stored`
      : (errors[0] as ItemError).error;
    return { ok: false, error: summary, items: errors, rejectedTargets: list.map((item) => targetNamedBy(item, targets)) };
  }
  return { ok: true, items };
}

function validateItem(item: unknown, targets: readonly AzureNotificationHubTarget[]): NewNotification | string {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    return 'each item must be an object with target and notificationId, or location';
  }
  const record = item as Record<string, unknown>;
  const unknownKeys = Object.keys(record).filter((key) => !itemFields.includes(key));
  if (unknownKeys.length > 0) return `unknown field ${describeKey(unknownKeys[0] as string)}`;
  const { target, notificationId, location, scheduled } = record;
  if (target !== undefined && typeof target !== 'string') return 'target must be a string';
  if (notificationId !== undefined && typeof notificationId !== 'string') return 'notificationId must be a string';
  if (location !== undefined && typeof location !== 'string') return 'location must be a string';
  if (scheduled !== undefined && typeof scheduled !== 'boolean') return 'scheduled must be true or false';

  if (location !== undefined) {
    if (notificationId !== undefined) return 'give either notificationId or location, not both';
    if (scheduled !== undefined) return 'scheduled goes with notificationId: a location says itself whether the send was scheduled';
    return fromLocation(location, target, targets);
  }
  if (target === undefined) return 'target is required with notificationId';
  if (notificationId === undefined) return 'notificationId (or location) is required';
  const configured = targets.find((candidate) => candidate.name === target);
  if (!configured) return `unknown target ${describeKey(target)}`;
  const idProblem = checkNotificationId(notificationId);
  return idProblem ?? { target: configured.name, notificationId, scheduled: scheduled === true };
}

function fromLocation(
  location: string,
  target: string | undefined,
  targets: readonly AzureNotificationHubTarget[],
): NewNotification | string {
  if (location.length > 2048) return 'location is longer than 2048 characters';
  const parsed = parseLocation(location);
  if (typeof parsed === 'string') return parsed;
  if (parsed.notificationId.startsWith('$')) {
    return `location ends in ${describeKey(parsed.notificationId)}, not in a notification ID: forward the Location header of the send's answer unchanged`;
  }
  const idProblem = checkNotificationId(parsed.notificationId);
  if (idProblem) return idProblem;
  const matched = targetOfLocation(parsed, target, targets);
  if (typeof matched === 'string') return matched;
  return { target: matched.name, notificationId: parsed.notificationId, scheduled: parsed.kind === 'scheduled' };
}

/** The configured target a parsed location belongs to (checked against `target` when given), or why none. */
function targetOfLocation(
  parsed: ParsedLocation,
  target: string | undefined,
  targets: readonly AzureNotificationHubTarget[],
): AzureNotificationHubTarget | string {
  const onNamespace = targets.filter((candidate) => candidate.connection.namespaceHost === parsed.namespaceHost);
  if (onNamespace.length === 0) return 'location host is not the namespace of any configured target';
  const matching = onNamespace.filter((candidate) => candidate.hub.toLowerCase() === parsed.hub.toLowerCase());
  if (matching.length === 0) return 'location hub is not configured for that namespace';
  if (target !== undefined) {
    const named = matching.find((candidate) => candidate.name === target);
    if (named) return named;
    return targets.some((candidate) => candidate.name === target)
      ? `location does not belong to target ${describeKey(target)}`
      : `unknown target ${describeKey(target)}`;
  }
  if (matching.length > 1) return 'location matches several targets; name one with target';
  return matching[0] as AzureNotificationHubTarget;
}

/**
 * The configured target a (possibly invalid) item names, for counting refused items per target;
 * '' when it names none that is configured. Never throws, whatever the item is.
 */
function targetNamedBy(item: unknown, targets: readonly AzureNotificationHubTarget[]): string {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return '';
  const { target, location } = item as Record<string, unknown>;
  const named = typeof target === 'string' ? targets.find((candidate) => candidate.name === target) : undefined;
  if (named) return named.name;
  if (target !== undefined || typeof location !== 'string' || location.length > 2048) return '';
  const parsed = parseLocation(location);
  if (typeof parsed === 'string') return '';
  const matched = targetOfLocation(parsed, undefined, targets);
  return typeof matched === 'string' ? '' : matched.name;
}

function checkNotificationId(notificationId: string): string | undefined {
  if (notificationId.length === 0) return 'notificationId is empty';
  if (notificationId.startsWith('$')) {
    // The JS SDK 2.1.0 answers notificationId "$batch" for every direct batch send (it takes the
    // fourth segment of /{hub}/messages/$batch/{id}); tracking it would also make every later batch
    // send a "duplicate".
    return (
      `notificationId ${describeKey(notificationId)} is not a notification ID (the JS SDK 2.1.0 answers "$batch" for direct batch sends): ` +
      'forward the Location header of the send\'s answer as {"location": "…"} instead'
    );
  }
  if (notificationId.length > maximumNotificationIdLength) {
    return `notificationId is longer than ${maximumNotificationIdLength} characters`;
  }
  if (!notificationIdPattern.test(notificationId) || forbiddenIdCharacters.test(notificationId)) {
    return 'notificationId may only hold printable ASCII without spaces, / ? # % or \\';
  }
  return undefined;
}

/** Echoes a user-supplied name safely: quoted, shortened, control characters escaped. */
function describeKey(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}
