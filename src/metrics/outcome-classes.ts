/**
 * Azure outcome names known today: the 18 of the per-message telemetry reference
 * (https://learn.microsoft.com/rest/api/notificationhubs/get-notification-message-telemetry#outcomes)
 * and those seen in the wild beside them (../shared/design.md). The set stays open: other names are
 * counted verbatim, as the bounded-label rule in labels.ts allows.
 */
export const knownAzureOutcomes: readonly string[] = [
  'AbandonedNotificationMessages',
  'BadChannel',
  'ChannelDisconnected',
  'ChannelThrottled',
  'Dropped',
  'ExpiredChannel',
  'InvalidCredentials',
  'InvalidNotificationSize',
  'NoTargets',
  'PnsInterfaceError',
  'PnsServerError',
  'PnsUnavailable',
  'PnsUnreachable',
  'Skipped',
  'Success',
  'Throttled',
  'UnknownError',
  'WrongToken',
  'TokenProviderInterfaceError',
  'TokenProviderUnreachable',
  'InvalidToken',
  'InvalidNotificationFormat',
  'WrongChannel',
  'RefreshToken',
];

const knownByLowerCase = new Map(knownAzureOutcomes.map((name) => [name.toLowerCase(), name]));

/**
 * The canonical spelling of a known outcome name matched case-insensitively (`success` → `Success`),
 * otherwise the name as given. Rules, alerts and dashboards match names case-sensitively, so one
 * spelling per outcome keeps `success` from becoming a series of its own that counts as a failure.
 * Only plain ASCII letters are folded: `toLowerCase` also maps look-alikes such as the Kelvin sign.
 */
export function canonicalOutcome(name: string): string {
  if (!/^[A-Za-z]+$/.test(name)) return name;
  return knownByLowerCase.get(name.toLowerCase()) ?? name;
}

export function isKnownOutcome(name: string): boolean {
  return knownByLowerCase.get(name.toLowerCase()) === name;
}

/**
 * Which outcomes are failures: everything but the successes and the neutral outcomes, so outcome
 * names Azure adds later count as failures. The same classification as the recording rules
 * (alerts/push-notification-recording-rules.yml) and README "Failure classification". Names are
 * compared as exported: Azure names are made canonical (canonicalOutcome) before they are counted.
 */
const successOutcomes = new Set(['Success', 'Sent']);
const neutralOutcomes = new Set(['Skipped', 'NoTargets']);

export function isFailureOutcome(outcome: string): boolean {
  return !successOutcomes.has(outcome) && !neutralOutcomes.has(outcome);
}
