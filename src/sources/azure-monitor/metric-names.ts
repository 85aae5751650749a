import { metricNames } from '../../metrics/names.js';

/**
 * What each Azure Monitor platform metric of a hub (resource type
 * Microsoft.NotificationHubs/namespaces/notificationHubs) becomes. Every one is a Count, aggregation
 * Total, grain PT1M, no dimensions:
 * https://learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/microsoft-notificationhubs-namespaces-notificationhubs-metrics
 *
 * The metric names come from the hub's own metric definitions (client.ts), so names Microsoft adds
 * later are read too; the label values stay bounded because that list is Microsoft's, not the senders'.
 */

/** Push services with per-service metrics (none exist for ADM, Baidu, Browser, Xiaomi). */
export const monitoredPlatforms = ['apns', 'fcmv1', 'gcm', 'mpns', 'wns'] as const;

/**
 * Per-service outcome names → the per-message telemetry outcome of the same meaning
 * (../../metrics/outcome-classes.ts), or a name of its own where there is none (README
 * "Azure Monitor outcome names"). A name not listed is exported as Azure spells it.
 */
export const outcomeNames: Readonly<Record<string, string>> = {
  success: 'Success',
  invalidcredentials: 'InvalidCredentials',
  wrongtoken: 'WrongToken',
  invalidtoken: 'InvalidToken',
  badchannel: 'BadChannel',
  expiredchannel: 'ExpiredChannel',
  wrongchannel: 'WrongChannel',
  throttled: 'Throttled',
  channelthrottled: 'ChannelThrottled',
  channeldisconnected: 'ChannelDisconnected',
  dropped: 'Dropped',
  invalidnotificationsize: 'InvalidNotificationSize',
  invalidnotificationformat: 'InvalidNotificationFormat',
  tokenproviderunreachable: 'TokenProviderUnreachable',
  // No per-message equivalent: "PNS error" covers PnsServerError, PnsInterfaceError, PnsUnavailable
  // and PnsUnreachable together; "authentication error" is the hub failing to get a PNS access token.
  pnserror: 'PnsError',
  authenticationerror: 'AuthenticationError',
};

export type MetricMeaning =
  /** Added per settled minute into a counter family. */
  | { kind: 'counter'; family: string; labels: Record<string, string> }
  /** A level, not a count of events: the newest minute's value is shown, nothing is added up. */
  | { kind: 'gauge'; family: string };

const familyByName: Readonly<Record<string, MetricMeaning>> = {
  'notificationhub.pushes': { kind: 'counter', family: metricNames.hubPushes, labels: {} },
  incoming: { kind: 'counter', family: metricNames.hubSends, labels: {} },
  'incoming.all.requests': { kind: 'counter', family: metricNames.hubRequests, labels: {} },
  'incoming.all.failedrequests': { kind: 'counter', family: metricNames.hubFailedRequests, labels: {} },
  'incoming.scheduled': { kind: 'counter', family: metricNames.hubScheduledSends, labels: {} },
  'incoming.scheduled.cancel': { kind: 'counter', family: metricNames.hubScheduledCancels, labels: {} },
  'scheduled.pending': { kind: 'gauge', family: metricNames.hubScheduledPending },
};

const plainName = /^[a-z][a-z0-9]{0,63}$/;

/**
 * What a metric name means, or undefined for those not read (registration.*, installation.*, and
 * anything unrecognised).
 */
export function metricMeaning(name: string): MetricMeaning | undefined {
  const known = familyByName[name];
  if (known) return known;
  const parts = name.split('.');
  if (parts.length !== 3 || parts[0] !== 'outgoing' || !plainName.test(parts[2] as string)) return undefined;
  const [, service, outcome] = parts as [string, string, string];
  if (service === 'allpns') return { kind: 'counter', family: metricNames.hubOutgoing, labels: { result: outcome } };
  if (!(monitoredPlatforms as readonly string[]).includes(service)) return undefined;
  return { kind: 'counter', family: metricNames.outcomes, labels: { platform: service, outcome: outcomeNames[outcome] ?? outcome } };
}

/** The names worth asking for among those a hub defines, in a stable order. */
export function metricsToRead(definedNames: Iterable<string>): string[] {
  return [...new Set(definedNames)].filter((name) => metricMeaning(name) !== undefined).sort();
}

/** The ARM metrics API takes at most 20 names per request. */
export const maximumNamesPerRequest = 20;

export function batches<T>(items: readonly T[], size = maximumNamesPerRequest): T[][] {
  const result: T[][] = [];
  for (let index = 0; index < items.length; index += size) result.push(items.slice(index, index + size));
  return result;
}
