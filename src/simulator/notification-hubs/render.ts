import type { MessagePlan, MessageSnapshot } from './message-plan.js';

const namespace = 'http://schemas.microsoft.com/netservices/2010/10/servicebus/connect';

/** Renders a NotificationDetails document the way the service does (7 fractional digits, default namespace). */
export function renderNotificationDetails(input: {
  notificationId: string;
  location: string;
  /** The pre-signed blob URL of the PNS error details, once the message is terminal. */
  errorDetailsUri?: string;
  snapshot: MessageSnapshot;
  plan: MessagePlan;
  /** Shuffles collection order: clients must not rely on element order. */
  random: () => number;
}): string {
  const { snapshot, plan } = input;
  const state = snapshot.state === 'Canceled' && plan.spellCancelled ? 'Cancelled' : snapshot.state;
  const collections = Object.entries(snapshot.outcomes)
    .sort(() => input.random() - 0.5)
    .map(([collection, counts]) => renderCollection(collection, counts, plan.emptyCollections ?? false));
  return [
    `<NotificationDetails xmlns="${namespace}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">`,
    `<NotificationId>${escapeXml(input.notificationId)}</NotificationId>`,
    `<Location>${escapeXml(input.location)}</Location>`,
    `<State>${state}</State>`,
    timestamp('EnqueueTime', snapshot.enqueueTime),
    timestamp('StartTime', snapshot.startTime),
    timestamp('EndTime', snapshot.endTime),
    // A body with personal data, as real documents carry: the exporter must never log or export it.
    `<NotificationBody>{"aps":{"alert":"Hello Jane Doe, your code is 424242"}}</NotificationBody>`,
    `<TargetPlatforms>${Object.keys(snapshot.outcomes).map(targetPlatform).join(',')}</TargetPlatforms>`,
    ...collections,
    input.errorDetailsUri ? `<PnsErrorDetailsUri>${escapeXml(input.errorDetailsUri)}</PnsErrorDetailsUri>` : '',
    `</NotificationDetails>`,
  ].join('');
}

function renderCollection(collection: string, counts: Record<string, number>, emptyCollections: boolean): string {
  const outcomes = Object.entries(counts).filter(([, count]) => count > 0);
  // An empty collection only when the scenario asks for one (MessagePlan.emptyCollections).
  if (outcomes.length === 0) return emptyCollections ? `<${collection}/>` : '';
  const body = outcomes.map(([name, count]) => `<Outcome><Name>${escapeXml(name)}</Name><Count>${count}</Count></Outcome>`);
  return `<${collection}>${body.join('')}</${collection}>`;
}

function timestamp(element: string, milliseconds: number | undefined): string {
  if (milliseconds === undefined) return '';
  // .NET writes 7 fractional digits.
  return `<${element}>${new Date(milliseconds).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z')}</${element}>`;
}

function targetPlatform(collection: string): string {
  const name = collection.replace(/OutcomeCounts$/, '').toLowerCase();
  return name === 'apns' ? 'apple' : name;
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (character) => `&#${character.charCodeAt(0)};`);
}
