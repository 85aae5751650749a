import type { IncomingMessage } from 'node:http';
import type { MessagePlan } from './message-plan.js';

/**
 * The send endpoints of the simulated hub, as the SDKs call them and as the service answers
 * (recorded by the .NET SDK's tests, src/*Tests/MockData/*.http in azure-notificationhubs-dotnet,
 * and the JS SDK's recordings in azure-sdk-for-js sdk/notificationhubs/notification-hubs/recordings):
 *
 *   POST /{hub}/messages?api-version=…                    201, Location …/messages/{id}
 *   POST /{hub}/messages?api-version=…&direct             the same, one device: ServiceBusNotification-DeviceHandle
 *   POST /{hub}/messages/$batch?api-version=…&direct      multipart/mixed (notification + devices):
 *                                                         201, Location …/messages/$batch/{id}?…&direct
 *   POST /{hub}/schedulednotifications?api-version=…      ServiceBusNotification-ScheduleTime:
 *                                                         201, Location …/schedulednotifications/{id}
 *   DELETE /{hub}/schedulednotifications/{id}             cancels a scheduled send (200)
 *
 * Every 201 carries `TrackingId`, `x-ms-correlation-request-id` and `Content-Length: 0`.
 * https://learn.microsoft.com/rest/api/notificationhubs/direct-batch-send
 */
export type SendKind = 'send' | 'batch' | 'scheduled';

/**
 * What the simulated service answers to GET /{hub}/messages/{id} for the ID of a scheduled send.
 * Microsoft documents per-message telemetry for scheduled notifications, and the states `Scheduled`
 * and `Canceled`, but not which ID it is found under (README "Scheduled sends"); each plausible
 * answer can be chosen:
 * - `scheduled-state` (the default): the scheduled ID answers `Scheduled` until the scheduled time,
 *   then Enqueued, Processing and a final state like any send; a cancel makes it `Canceled`.
 * - `not-found-until-sent`: it answers 404 until the scheduled time, then like any send.
 * - `separate-id`: the send's telemetry lives under an ID nobody is told; the scheduled ID is 404 for ever.
 */
export type ScheduledTelemetry = 'scheduled-state' | 'not-found-until-sent' | 'separate-id';

/** A send request that the service would accept. */
export interface AcceptedSend {
  kind: SendKind;
  apiVersion: string;
  /** The client's TrackingId header, echoed; otherwise the simulator makes one. */
  trackingId?: string;
  /** Scheduled sends: when to send (epoch milliseconds). */
  scheduledAt?: number;
  /** Direct batch sends: how many device handles the body lists. */
  devices?: number;
}

export type SendRequestResult = AcceptedSend | { status: number; detail: string };

const maximumBodyBytes = 1024 * 1024;
// ServiceBusNotification-Format values of the REST API and the SDKs.
const formats = new Set(['apple', 'gcm', 'fcm', 'fcmv1', 'windows', 'windowsphone', 'adm', 'baidu', 'browser', 'xiaomi', 'template']);

/** The send a request path asks for (segments after the hub), or undefined. */
export function sendKindOf(method: string | undefined, segments: readonly string[]): SendKind | undefined {
  if (method !== 'POST') return undefined;
  const collection = segments[1]?.toLowerCase();
  if (segments.length === 2 && collection === 'messages') return 'send';
  if (segments.length === 3 && collection === 'messages' && segments[2]?.toLowerCase() === '$batch') return 'batch';
  if (segments.length === 2 && collection === 'schedulednotifications') return 'scheduled';
  return undefined;
}

/** Reads and checks a send request the way the service would (400 for what it would refuse). */
export async function readSendRequest(request: IncomingMessage, kind: SendKind, url: URL): Promise<SendRequestResult> {
  const body = await readBody(request);
  if (body === undefined) return { status: 413, detail: 'the request body is too large' };
  const format = header(request, 'servicebusnotification-format');
  if (format === undefined || !formats.has(format.toLowerCase())) {
    return { status: 400, detail: 'ServiceBusNotification-Format is missing or not a known platform' };
  }
  const accepted: AcceptedSend = { kind, apiVersion: url.searchParams.get('api-version') ?? '', trackingId: header(request, 'trackingid') };
  const direct = url.searchParams.has('direct');
  if (kind === 'send' && direct && header(request, 'servicebusnotification-devicehandle') === undefined) {
    return { status: 400, detail: 'a direct send needs the ServiceBusNotification-DeviceHandle header' };
  }
  if (kind === 'batch') {
    if (!direct) return { status: 400, detail: 'a batch send must be a direct send (?direct)' };
    const devices = batchDevices(header(request, 'content-type'), body.toString('utf8'));
    if (typeof devices === 'string') return { status: 400, detail: devices };
    accepted.devices = devices;
  }
  if (kind === 'scheduled') {
    const scheduledAt = parseScheduleTime(header(request, 'servicebusnotification-scheduletime'));
    if (scheduledAt === undefined) return { status: 400, detail: 'ServiceBusNotification-ScheduleTime is missing or not an ISO 8601 time' };
    accepted.scheduledAt = scheduledAt;
  }
  return accepted;
}

/**
 * The Location a send answers. The ID is the last path segment in every form; the JS SDK 2.1.0 takes
 * the fourth segment instead, which is "$batch" for batch sends.
 */
export function sendLocation(namespaceHost: string, hub: string, kind: SendKind, notificationId: string, apiVersion: string): string {
  const version = encodeURIComponent(apiVersion || '2020-06');
  switch (kind) {
    case 'batch':
      return `https://${namespaceHost}/${hub}/messages/$batch/${notificationId}?api-version=${version}&direct`;
    case 'scheduled':
      return `https://${namespaceHost}/${hub}/schedulednotifications/${notificationId}?api-version=${version}`;
    default:
      return `https://${namespaceHost}/${hub}/messages/${notificationId}?api-version=${version}`;
  }
}

/**
 * The telemetry plan for a scheduled send, made from a send's plan: where it answers (`id` = under
 * the scheduled ID, `other` = under an ID of its own) and how, for the chosen assumption.
 */
export function scheduledPlan(plan: MessagePlan, delayMilliseconds: number, mode: ScheduledTelemetry): { under: 'id' | 'other'; plan: MessagePlan } {
  const wait = Math.max(0, delayMilliseconds);
  switch (mode) {
    case 'not-found-until-sent':
      return { under: 'id', plan: { ...plan, notReadyMilliseconds: wait + plan.notReadyMilliseconds, scheduledMilliseconds: undefined } };
    case 'separate-id':
      return { under: 'other', plan: { ...plan, notReadyMilliseconds: wait + plan.notReadyMilliseconds, scheduledMilliseconds: undefined } };
    default: {
      // Telemetry appears after the plan's usual delay, Scheduled until the send is due.
      const ready = Math.min(plan.notReadyMilliseconds, wait);
      return { under: 'id', plan: { ...plan, notReadyMilliseconds: ready, scheduledMilliseconds: wait - ready } };
    }
  }
}

/** The plan of a scheduled send canceled `elapsed` ms after it was created: Canceled from now on. */
export function canceledPlan(plan: MessagePlan, elapsed: number): MessagePlan {
  const ready = Math.min(plan.notReadyMilliseconds, elapsed);
  return {
    ...plan,
    notReadyMilliseconds: ready,
    scheduledMilliseconds: elapsed - ready,
    enqueuedMilliseconds: 0,
    processingMilliseconds: 0,
    finalState: 'Canceled',
    errorDetails: undefined,
  };
}

/** An ID shaped like the recorded ones of scheduled sends (`…_QNHQueue…-S…`), unlike send IDs. */
export function scheduledNotificationId(random: () => number, now: number): string {
  const hex = (length: number) => Array.from({ length }, () => Math.floor(random() * 16).toString(16)).join('');
  const digits = (length: number) => Array.from({ length }, () => Math.floor(random() * 10)).join('');
  const stamp = new Date(now).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${hex(32)}_${stamp}_${digits(8)}_${1 + Math.floor(random() * 99)}_QNHQueue${hex(32)}-S${digits(17)}`;
}

/**
 * ServiceBusNotification-ScheduleTime: the JS SDK sends toISOString() (with Z), the .NET SDK the UTC
 * time formatted "s" (no offset, meaning UTC).
 */
function parseScheduleTime(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/.test(value.trim())) return undefined;
  const text = value.trim();
  const time = Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(time) ? undefined : time;
}

/** The number of device handles of a direct batch body, or what is wrong with it. */
function batchDevices(contentType: string | undefined, body: string): number | string {
  if (!contentType || !/^multipart\/mixed\b/i.test(contentType)) return 'a batch send must be multipart/mixed';
  // The JS SDK writes `boundary = "…"`, the .NET SDK `boundary="…"`.
  const boundary = /boundary\s*=\s*"?([^";]+)"?/i.exec(contentType)?.[1]?.trim();
  if (!boundary) return 'the multipart body has no boundary';
  const parts = new Map<string, string>();
  for (const chunk of body.split(`--${boundary}`).slice(1)) {
    if (chunk.startsWith('--')) break;
    const separator = chunk.indexOf('\r\n\r\n');
    if (separator === -1) continue;
    const headers = chunk.slice(0, separator);
    const name = /content-disposition:[^\r\n]*\bname\s*=\s*"?([^";\r\n]+)"?/i.exec(headers)?.[1]?.trim().toLowerCase();
    if (name) parts.set(name, chunk.slice(separator + 4).replace(/\r\n$/, ''));
  }
  if (!parts.has('notification')) return 'the multipart body has no "notification" part';
  let devices: unknown;
  try {
    devices = JSON.parse(parts.get('devices') ?? '');
  } catch {
    return 'the "devices" part must be a JSON array of device handles';
  }
  if (!Array.isArray(devices) || devices.length === 0 || devices.some((device) => typeof device !== 'string' || device === '')) {
    return 'the "devices" part must be a non-empty JSON array of device handles';
  }
  return devices.length;
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The body, or undefined once it grows past the limit (the rest is drained, not kept). */
async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= maximumBodyBytes) chunks.push(chunk);
  }
  return size <= maximumBodyBytes ? Buffer.concat(chunks) : undefined;
}
