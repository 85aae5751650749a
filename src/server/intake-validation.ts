import type { AzureNotificationHubTarget } from '../config/load.js';
import { parseLocation } from '../sources/azure-notification-hubs/location.js';
import type { NewNotification } from '../tracking/types.js';

export const maximumItemsPerRequest = 1000;
export const maximumNotificationIdLength = 256;

export interface ItemError {
  index: number;
  error: string;
}

export type IntakeValidation =
  | { ok: true; items: NewNotification[] }
  | { ok: false; error: string; items: ItemError[] };

// Printable ASCII without separators that would change the telemetry URL's meaning.
const notificationIdPattern = /^[\x21-\x7e]+$/;
const forbiddenIdCharacters = /[/?#%\\]/;

/**
 * Validates an intake body: one item or an array of up to 1000. All-or-nothing: one bad item and
 * nothing is stored, with an error per bad item. Contract: ../shared/design.md "Intake API".
 */
export function validateIntake(body: unknown, targets: readonly AzureNotificationHubTarget[]): IntakeValidation {
  const list = Array.isArray(body) ? (body as unknown[]) : [body];
  if (Array.isArray(body) && list.length === 0) return { ok: false, error: 'the array is empty', items: [] };
  if (list.length > maximumItemsPerRequest) {
    return { ok: false, error: `too many items: ${list.length} (at most ${maximumItemsPerRequest} per request)`, items: [] };
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
    return { ok: false, error: summary, items: errors };
  }
  return { ok: true, items };
}

function validateItem(item: unknown, targets: readonly AzureNotificationHubTarget[]): NewNotification | string {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    return 'each item must be an object with target and notificationId, or location';
  }
  const record = item as Record<string, unknown>;
  const unknownKeys = Object.keys(record).filter((key) => !['target', 'notificationId', 'location'].includes(key));
  if (unknownKeys.length > 0) return `unknown field ${describeKey(unknownKeys[0] as string)}`;
  const { target, notificationId, location } = record;
  if (target !== undefined && typeof target !== 'string') return 'target must be a string';
  if (notificationId !== undefined && typeof notificationId !== 'string') return 'notificationId must be a string';
  if (location !== undefined && typeof location !== 'string') return 'location must be a string';

  if (location !== undefined) {
    if (notificationId !== undefined) return 'give either notificationId or location, not both';
    return fromLocation(location, target, targets);
  }
  if (target === undefined) return 'target is required with notificationId';
  if (notificationId === undefined) return 'notificationId (or location) is required';
  const configured = targets.find((candidate) => candidate.name === target);
  if (!configured) return `unknown target ${describeKey(target)}`;
  const idProblem = checkNotificationId(notificationId);
  return idProblem ?? { target: configured.name, notificationId };
}

function fromLocation(
  location: string,
  target: string | undefined,
  targets: readonly AzureNotificationHubTarget[],
): NewNotification | string {
  if (location.length > 2048) return 'location is longer than 2048 characters';
  const parsed = parseLocation(location);
  if (typeof parsed === 'string') return parsed;
  const idProblem = checkNotificationId(parsed.notificationId);
  if (idProblem) return idProblem;
  const onNamespace = targets.filter((candidate) => candidate.connection.namespaceHost === parsed.namespaceHost);
  if (onNamespace.length === 0) return 'location host is not the namespace of any configured target';
  const matching = onNamespace.filter((candidate) => candidate.hub.toLowerCase() === parsed.hub.toLowerCase());
  if (matching.length === 0) return 'location hub is not configured for that namespace';
  if (target !== undefined) {
    const named = matching.find((candidate) => candidate.name === target);
    if (!named) {
      return targets.some((candidate) => candidate.name === target)
        ? `location does not belong to target ${describeKey(target)}`
        : `unknown target ${describeKey(target)}`;
    }
    return { target: named.name, notificationId: parsed.notificationId };
  }
  if (matching.length > 1) return 'location matches several targets; name one with target';
  return { target: (matching[0] as AzureNotificationHubTarget).name, notificationId: parsed.notificationId };
}

function checkNotificationId(notificationId: string): string | undefined {
  if (notificationId.length === 0) return 'notificationId is empty';
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
