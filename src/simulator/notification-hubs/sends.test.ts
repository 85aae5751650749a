import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSasToken } from '../../sources/azure-notification-hubs/sas.js';
import { ManualClock } from '../../time/clock.js';
import { seededRandom } from '../random.js';
import type { MessagePlan } from './message-plan.js';
import { NotificationHubsSimulator } from './server.js';

const key = 'c2VuZC1rZXk=';
const plan = (): MessagePlan => ({
  notReadyMilliseconds: 1_000,
  enqueuedMilliseconds: 1_000,
  processingMilliseconds: 1_000,
  finalState: 'Completed',
  outcomes: { GcmOutcomeCounts: { Success: 2 } },
});

describe('the simulated send endpoints', () => {
  let clock: ManualClock;
  let simulator: NotificationHubsSimulator;
  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2026, 2, 1));
    simulator = new NotificationHubsSimulator({ namespace: 'contoso', hubs: [{ name: 'hub', keys: { full: key } }], clock, random: seededRandom(1), planForSend: plan });
    await simulator.start();
  });
  afterEach(async () => simulator.stop());

  const authorization = () =>
    createSasToken({ resourceUri: 'https://contoso.servicebus.windows.net/hub', keyName: 'full', key, expiresAtSeconds: Math.floor(clock.now() / 1000) + 3600 });

  async function call(method: string, path: string, headers: Record<string, string>, body?: string) {
    const response = await request(`${simulator.url}${path}`, {
      method,
      headers: { authorization: authorization(), 'x-ms-version': '2020-06', ...headers },
      body,
    });
    return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
  }

  async function telemetryState(id: string): Promise<string> {
    const answer = await call('GET', `/hub/messages/${id}?api-version=2020-06`, {});
    return answer.status === 404 ? '404' : (/<State>([^<]*)<\/State>/.exec(answer.text)?.[1] ?? '?');
  }

  it('accepts a direct batch send as the .NET SDK writes it, with the recorded answer headers', async () => {
    const boundary = 'nh-batch-multipart-boundary';
    const body =
      `--${boundary}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Disposition: inline; name=notification\r\n\r\n{"data":{"a":1}}\r\n` +
      `--${boundary}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Disposition: inline; name=devices\r\n\r\n["t1","t2","t3"]\r\n--${boundary}--\r\n`;
    const answer = await call(
      'POST',
      '/hub/messages/$batch?api-version=2017-04&direct',
      { 'servicebusnotification-format': 'gcm', 'content-type': `multipart/mixed; boundary="${boundary}"`, trackingid: 'c0ffee00-0000-4000-8000-000000000001' },
      body,
    );
    expect(answer.status).toBe(201);
    expect(answer.text).toBe('');
    expect(answer.headers['content-length']).toBe('0');
    expect(answer.headers.trackingid).toBe('c0ffee00-0000-4000-8000-000000000001');
    expect(answer.headers['x-ms-correlation-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const location = String(answer.headers.location);
    expect(location).toMatch(/^https:\/\/contoso\.servicebus\.windows\.net\/hub\/messages\/\$batch\/[^/?]+\?api-version=2017-04&direct$/);
    clock.advance(5_000);
    expect(await telemetryState(location.split('?')[0]?.split('/').at(-1) as string)).toBe('Completed');
  });

  it.each([
    ['no ServiceBusNotification-Format', '/hub/messages?api-version=2020-06', { 'content-type': 'application/json' }, '{}', /ServiceBusNotification-Format/],
    ['a direct send without a device handle', '/hub/messages?api-version=2020-06&direct', { 'servicebusnotification-format': 'apple' }, '{}', /DeviceHandle/],
    ['a batch send that is not direct', '/hub/messages/$batch?api-version=2020-06', { 'servicebusnotification-format': 'apple', 'content-type': 'multipart/mixed; boundary=b' }, '--b--', /direct/],
    ['a batch body without devices', '/hub/messages/$batch?api-version=2020-06&direct', { 'servicebusnotification-format': 'apple', 'content-type': 'multipart/mixed; boundary=b' }, '--b\r\nContent-Disposition: inline; name=notification\r\n\r\n{}\r\n--b--', /devices/],
    ['a scheduled send without a time', '/hub/schedulednotifications?api-version=2020-06', { 'servicebusnotification-format': 'apple' }, '{}', /ScheduleTime/],
  ])('refuses %s with 400, as the service would', async (_name, path, headers, body, detail) => {
    const answer = await call('POST', path, headers, body);
    expect(answer.status).toBe(400);
    expect(answer.text).toMatch(detail);
    expect(simulator.sends).toEqual([]);
  });

  it('serves a scheduled ID Scheduled until its time (a .NET "s" time, UTC), then like a send; a cancel makes another Canceled', async () => {
    const at = new Date(clock.now() + 3_600_000).toISOString().slice(0, 19);
    const headers = { 'servicebusnotification-format': 'gcm', 'servicebusnotification-scheduletime': at, 'content-type': 'application/json' };
    const first = await call('POST', '/hub/schedulednotifications?api-version=2020-06', headers, '{}');
    const second = await call('POST', '/hub/schedulednotifications?api-version=2020-06', headers, '{}');
    const ids = [first, second].map((answer) => String(answer.headers.location).split('?')[0]?.split('/').at(-1) as string);
    expect(ids[0]).toMatch(/_QNHQueue[0-9a-f]{32}-S\d{17}$/);
    clock.advance(2_000);
    expect(await telemetryState(ids[0] as string)).toBe('Scheduled');

    expect((await call('DELETE', `/hub/schedulednotifications/${ids[1]}?api-version=2020-06`, {})).status).toBe(200);
    expect(await telemetryState(ids[1] as string)).toBe('Canceled');
    expect((await call('DELETE', `/hub/schedulednotifications/${ids[1]}?api-version=2020-06`, {})).status).toBe(404);

    clock.advance(3_600_000);
    expect(await telemetryState(ids[0] as string)).toBe('Completed');
    expect((await call('DELETE', `/hub/schedulednotifications/${ids[0]}?api-version=2020-06`, {})).status).toBe(404);
  });
});
