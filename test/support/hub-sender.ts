import { request } from 'undici';
import type { NotificationHubsSimulator } from '../../src/simulator/notification-hubs/server.js';
import { SasTokenProvider } from '../../src/sources/azure-notification-hubs/sas.js';
import type { Clock } from '../../src/time/clock.js';
import { hubKey } from './harness.js';

export type SendForm = 'send' | 'batch' | 'scheduled';

export interface SendAnswer {
  status: number;
  location: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Sends through the simulated hub the way the JS SDK 2.1.0 builds its requests
 * (node_modules/@azure/notification-hubs/dist/esm/api/internal/_sendNotification.js and
 * _scheduleNotification.js): a tag send, a direct batch send (multipart/mixed: the notification
 * and a JSON array of device handles) or a scheduled send; returns the answer's Location.
 */
export async function sendThroughHub(
  simulator: NotificationHubsSimulator,
  hub: string,
  form: SendForm,
  options: { clock: Clock; scheduledAt?: number; devices?: string[] },
): Promise<SendAnswer> {
  const token = new SasTokenProvider({
    resourceUri: `https://${simulator.namespaceHost}/${hub}`,
    keyName: 'DefaultListenSharedAccessSignature',
    key: hubKey,
    clock: options.clock,
  });
  const body = '{"aps":{"alert":"Hello"}}';
  const headers: Record<string, string> = {
    authorization: token.authorizationHeader(),
    'x-ms-version': '2020-06',
    'servicebusnotification-format': 'apple',
    'content-type': 'application/json;charset=utf-8',
  };
  let path = `/${hub}/messages/?api-version=2020-06`;
  let payload = body;
  if (form === 'send') headers['servicebusnotification-tags'] = 'likes_hockey';
  if (form === 'batch') {
    const boundary = 'nh-boundary-test';
    path = `/${hub}/messages/$batch?api-version=2020-06&direct=true`;
    headers['content-type'] = `multipart/mixed; boundary = "${boundary}"`;
    payload =
      `--${boundary}\r\nContent-type: application/json;charset=utf-8\r\nContent-Disposition: inline; name=notification\r\n\r\n${body}\r\n` +
      `--${boundary}\r\nContent-type: application/json\r\nContent-Disposition: inline; name=devices\r\n\r\n${JSON.stringify(options.devices ?? ['device-a', 'device-b'])}\r\n` +
      `--${boundary}--`;
  }
  if (form === 'scheduled') {
    path = `/${hub}/schedulednotifications/?api-version=2020-06`;
    headers['servicebusnotification-scheduletime'] = new Date(options.scheduledAt ?? options.clock.now()).toISOString();
  }
  const response = await request(`${simulator.url}${path}`, { method: 'POST', headers, body: payload });
  await response.body.dump();
  return { status: response.statusCode, location: String(response.headers.location ?? ''), headers: response.headers };
}
