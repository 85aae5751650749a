import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createClientContext,
  getNotificationOutcomeDetails,
  scheduleNotification,
  sendNotification,
  type NotificationHubsClientContext,
} from '@azure/notification-hubs/api';
import { createAppleNotification, type NotificationDetails, type NotificationHubsMessageResponse } from '@azure/notification-hubs/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import { Harness, hubKey } from '../support/harness.js';
import { sumOf } from '../support/prometheus-text.js';
import { generateSelfSignedCertificate } from '../support/tls.js';

/**
 * The official JS SDK (@azure/notification-hubs 2.1.0, a dev dependency) as a client of the
 * simulated hub, the way a sender uses it against Azure: a tag send, a direct batch send and a
 * scheduled send, then getNotificationOutcomeDetails. What the SDK hands back goes through the
 * intake of the real exporter, which must count every send exactly.
 *
 * The SDK speaks only https: the simulator also listens on https with a throwaway certificate that
 * this client trusts through tlsOptions.ca (TLS is verified for real; bench/ uses NODE_EXTRA_CA_CERTS
 * in its own process for the same certificate), and accepts tokens signed for its own address.
 */
const target = 'orders-target';
const hour = 3_600_000;

/** 4 devices, one with a stale token; telemetry 2 s after the send, Completed 3 s later. */
const plan = (): MessagePlan => ({
  notReadyMilliseconds: 2_000,
  enqueuedMilliseconds: 1_000,
  processingMilliseconds: 2_000,
  finalState: 'Completed',
  outcomes: { ApnsOutcomeCounts: { Success: 3, WrongToken: 1 } },
});

describe('the Azure SDK as a client of the simulator, its IDs through the intake', () => {
  let folder: string;
  let harness: Harness;
  let context: NotificationHubsClientContext;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'pne-sdk-'));
    const certificate = generateSelfSignedCertificate(folder, 'simulator');
    harness = await Harness.start({ simulator: { planForSend: plan, acceptOwnAddressAudience: true } });
    const tlsUrl = await harness.simulator.startTls(certificate);
    const connectionString = `Endpoint=sb://${new URL(tlsUrl).host}/;SharedAccessKeyName=DefaultListenSharedAccessSignature;SharedAccessKey=${hubKey}`;
    context = createClientContext(connectionString, 'orders', { tlsOptions: { ca: certificate.cert } });
  });
  afterAll(async () => {
    await harness?.close();
    rmSync(folder, { recursive: true, force: true });
  });

  const notification = () => createAppleNotification({ body: '{"aps":{"alert":"Hello"}}', headers: { 'apns-priority': '10', 'apns-push-type': 'alert' } });
  const lastSegment = (location: string | undefined) => new URL(location ?? 'https://missing/').pathname.split('/').at(-1) as string;
  let native: NotificationHubsMessageResponse;
  let batch: NotificationHubsMessageResponse;
  let scheduled: NotificationHubsMessageResponse;

  it('sends natively, as a direct batch and scheduled, with the headers and Locations the service answers', async () => {
    native = await sendNotification(context, notification(), { tagExpression: 'likes_hockey' });
    batch = await sendNotification(context, notification(), { deviceHandle: ['device-token-1', 'device-token-2'] });
    scheduled = await scheduleNotification(context, new Date(harness.clock.now() + 2 * hour), notification(), { tagExpression: 'likes_hockey' });
    for (const answer of [native, batch, scheduled]) {
      expect(answer.trackingId).toMatch(/^[0-9a-f-]{36}$/);
      expect(answer.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(native.location).toBe(`https://contoso.servicebus.windows.net/orders/messages/${native.notificationId}?api-version=2020-06`);
    expect(batch.location).toMatch(/^https:\/\/contoso\.servicebus\.windows\.net\/orders\/messages\/\$batch\/[^/?]+\?api-version=2020-06&direct$/);
    // The SDK 2.1.0 takes the fourth path segment as the ID: "$batch" for every batch send.
    expect(batch.notificationId).toBe('$batch');
    expect(scheduled.location).toBe(`https://contoso.servicebus.windows.net/orders/schedulednotifications/${scheduled.notificationId}?api-version=2020-06`);
    expect(harness.simulator.sends.map((send) => send.kind)).toEqual(['send', 'batch', 'scheduled']);
  });

  it('takes what the SDK returns: the ID of a send, and the Location where the ID is "$batch"', async () => {
    expect(await harness.post({ target, notificationId: native.notificationId })).toEqual({ status: 202, json: { accepted: 1, duplicates: 0 } });
    const refused = await harness.post({ target, notificationId: batch.notificationId });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.json)).toMatch(/forward the Location header/);
    expect(await harness.post([{ location: batch.location }, { location: scheduled.location }])).toEqual({ status: 202, json: { accepted: 2, duplicates: 0 } });
    expect((await harness.lookup(target, lastSegment(batch.location))).json).toMatchObject({ state: 'Pending', scheduled: false });
    expect((await harness.lookup(target, lastSegment(scheduled.location))).json).toMatchObject({ state: 'Scheduled', scheduled: true });
  });

  it('counts each send exactly what getNotificationOutcomeDetails reports, the scheduled one once it is sent', async () => {
    await harness.advance(30_000);
    const sent = [native.notificationId as string, lastSegment(batch.location)];
    const details = await Promise.all(sent.map((id) => getNotificationOutcomeDetails(context, id)));
    expect(details.map((detail) => detail.state)).toEqual(['Completed', 'Completed']);
    let samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_messages_total', { target, state: 'Completed' })).toBe(2);
    expect(countedByOutcome(samples)).toEqual(reportedByOutcome(details));
    expect(sumOf(samples, 'push_notification_tracked_messages', { target, state: 'Scheduled' })).toBe(1);

    await harness.advance(2 * hour + 10 * 60_000, 60_000);
    const all = [...details, await getNotificationOutcomeDetails(context, lastSegment(scheduled.location))];
    expect(all[2]?.state).toBe('Completed');
    samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_messages_total', { target, state: 'Completed' })).toBe(3);
    expect(countedByOutcome(samples)).toEqual(reportedByOutcome(all));
    expect(reportedByOutcome(all)).toEqual({ 'apns/Success': 9, 'apns/WrongToken': 3 });
    // Per target: accepted = terminal + expired + tracked; the refused "$batch" is counted as rejected.
    const accepted = sumOf(samples, 'push_notification_intake_notifications_total', { target, result: 'accepted' });
    const ended = ['push_notification_messages_total', 'push_notification_tracking_expired_total', 'push_notification_tracked_messages']
      .map((name) => sumOf(samples, name, { target }))
      .reduce((sum, value) => sum + value, 0);
    expect([accepted, ended]).toEqual([3, 3]);
    expect(sumOf(samples, 'push_notification_intake_notifications_total', { target, result: 'rejected' })).toBe(1);
  });
});

function countedByOutcome(samples: Awaited<ReturnType<Harness['scrape']>>): Record<string, number> {
  const counted: Record<string, number> = {};
  for (const sample of samples) {
    if (sample.name !== 'push_notification_outcomes_total' || sample.labels.target !== target || sample.value === 0) continue;
    const key = `${sample.labels.platform}/${sample.labels.outcome}`;
    counted[key] = (counted[key] ?? 0) + sample.value;
  }
  return counted;
}

function reportedByOutcome(details: readonly NotificationDetails[]): Record<string, number> {
  const reported: Record<string, number> = {};
  for (const detail of details) {
    for (const outcome of detail.apnsOutcomeCounts ?? []) reported[`apns/${outcome.state}`] = (reported[`apns/${outcome.state}`] ?? 0) + outcome.count;
  }
  return reported;
}
