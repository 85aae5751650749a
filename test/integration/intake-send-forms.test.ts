import { afterEach, describe, expect, it } from 'vitest';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import { Harness } from '../support/harness.js';
import { sendThroughHub } from '../support/hub-sender.js';
import { sumOf } from '../support/prometheus-text.js';

/**
 * Issue 11, items 9 and 10: every Location form the send APIs answer is tracked, against the real
 * exporter and the simulated hub answering the sends.
 */
const target = 'orders-target';
const minute = 60_000;
const hour = 60 * minute;

/** Telemetry 2 s after the send (after the scheduled time for scheduled sends), Completed 3 s later. */
const quickPlan = (): MessagePlan => ({
  notReadyMilliseconds: 2_000,
  enqueuedMilliseconds: 1_000,
  processingMilliseconds: 2_000,
  finalState: 'Completed',
  outcomes: { ApnsOutcomeCounts: { Success: 3, WrongToken: 1 } },
});

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function metrics(current: Harness) {
  const samples = await current.scrape();
  return {
    completed: sumOf(samples, 'push_notification_messages_total', { target, state: 'Completed' }),
    success: sumOf(samples, 'push_notification_outcomes_total', { target, outcome: 'Success' }),
    expired: (reason: string) => sumOf(samples, 'push_notification_tracking_expired_total', { target, reason }),
    tracked: (state: string) => sumOf(samples, 'push_notification_tracked_messages', { target, state }),
  };
}

describe('direct batch sends (item 9)', () => {
  it('tracks the ID that ends a $batch Location (…/messages/$batch/{id}?…&direct) and counts it', async () => {
    harness = await Harness.start({ simulator: { planForSend: quickPlan } });
    const sent = await sendThroughHub(harness.simulator, 'orders', 'batch', { clock: harness.clock });
    expect(sent.status).toBe(201);
    expect(sent.location).toMatch(/^https:\/\/contoso\.servicebus\.windows\.net\/orders\/messages\/\$batch\/[^/?]+\?api-version=2020-06&direct$/);
    const id = new URL(sent.location).pathname.split('/').at(-1) as string;

    expect(await harness.post({ location: sent.location })).toEqual({ status: 202, json: { accepted: 1, duplicates: 0 } });
    expect((await harness.lookup(target, id)).json).toMatchObject({ notificationId: id, state: 'Pending', scheduled: false });
    // A second batch send is a new ID, not a "duplicate" of the first.
    const second = await sendThroughHub(harness.simulator, 'orders', 'batch', { clock: harness.clock });
    expect(await harness.post({ location: second.location })).toEqual({ status: 202, json: { accepted: 1, duplicates: 0 } });

    await harness.advance(30_000);
    expect(harness.simulator.requestsFor(id).map((request) => request.status)).toEqual([200]);
    const after = await metrics(harness);
    expect([after.completed, after.success]).toEqual([2, 6]);
  });

  it('accepts the Location recorded by the .NET SDK verbatim (hub and namespace renamed)', async () => {
    harness = await Harness.start();
    const id = 'b755f9e4bb0844c8a2881986777aadb0-20181107001827-33331921-16';
    const location = `https://contoso.servicebus.windows.net/orders/messages/$batch/${id}?api-version=2017-04&direct`;
    expect(await harness.post({ location })).toEqual({ status: 202, json: { accepted: 1, duplicates: 0 } });
    expect((await harness.lookup(target, id)).status).toBe(200);
  });

  it.each([
    ['"$batch" (what the JS SDK 2.1.0 answers for batch sends)', '$batch'],
    ['any other ID starting with "$"', '$metadata'],
  ])('refuses notificationId %s with a 400 that says to forward the location', async (_name, notificationId) => {
    harness = await Harness.start();
    const response = await harness.post([{ target, notificationId: 'fine-1' }, { target, notificationId }]);
    expect(response.status).toBe(400);
    const [item] = (response.json as { items: { index: number; error: string }[] }).items;
    expect(item?.index).toBe(1);
    expect(item?.error).toMatch(/is not a notification ID .*forward the Location header of the send's answer as \{"location": "…"\} instead/);
    // All or nothing: the good item is not stored either.
    expect((await harness.lookup(target, 'fine-1')).status).toBe(404);
    expect((await harness.lookup(target, notificationId)).status).toBe(404);
  });

  it('refuses a $batch Location that carries no ID after $batch', async () => {
    harness = await Harness.start();
    const response = await harness.post({ location: 'https://contoso.servicebus.windows.net/orders/messages/$batch?api-version=2020-06&direct' });
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.json)).toMatch(/location ends in \\"\$batch\\", not in a notification ID/);
  });
});

describe('scheduled sends (item 10)', () => {
  it('tracks a scheduled send from state Scheduled, across a restart, until it is sent hours later (telemetry 404 until then)', async () => {
    harness = await Harness.start({ simulator: { planForSend: quickPlan, scheduledTelemetry: 'not-found-until-sent' } });
    const sendAt = harness.clock.now() + 3 * hour;
    const sent = await sendThroughHub(harness.simulator, 'orders', 'scheduled', { clock: harness.clock, scheduledAt: sendAt });
    expect(sent.status).toBe(201);
    expect(sent.location).toMatch(/^https:\/\/contoso\.servicebus\.windows\.net\/orders\/schedulednotifications\/[^/?]+\?api-version=2020-06$/);
    const id = new URL(sent.location).pathname.split('/').at(-1) as string;

    expect(await harness.post({ location: sent.location })).toEqual({ status: 202, json: { accepted: 1, duplicates: 0 } });
    expect((await harness.lookup(target, id)).json).toMatchObject({ state: 'Scheduled', scheduled: true, finishedAt: null });
    expect((await metrics(harness)).tracked('Scheduled')).toBe(1);

    // Past notFoundDeadline (30 min): still followed, on the Scheduled cadence.
    await harness.advance(hour, minute);
    expect((await metrics(harness)).expired('not_found')).toBe(0);
    const polls = harness.simulator.requestsFor(id);
    expect(polls.every((request) => request.status === 404)).toBe(true);
    expect(polls.length).toBeGreaterThanOrEqual(10);
    expect(polls.length).toBeLessThanOrEqual(13);

    await harness.restart();
    expect((await harness.lookup(target, id)).json).toMatchObject({ state: 'Scheduled', scheduled: true, finishedAt: null });
    expect((await metrics(harness)).tracked('Scheduled')).toBe(1);

    // Past maxAge (2 h) and past the scheduled time: counted once it is sent and done.
    await harness.advance(2 * hour + 10 * minute, minute);
    const after = await metrics(harness);
    expect([after.completed, after.success, after.expired('not_found'), after.expired('max_age'), after.tracked('Scheduled')]).toEqual([1, 3, 0, 0, 0]);
    expect((await harness.lookup(target, id)).json).toMatchObject({ state: 'Completed', finishReason: 'terminal' });
  });

  it('follows the Scheduled state the telemetry reports, polling every 5 minutes, then counts the send', async () => {
    harness = await Harness.start({ simulator: { planForSend: quickPlan, scheduledTelemetry: 'scheduled-state' } });
    const sent = await sendThroughHub(harness.simulator, 'orders', 'scheduled', { clock: harness.clock, scheduledAt: harness.clock.now() + 5 * hour });
    const id = new URL(sent.location).pathname.split('/').at(-1) as string;
    expect((await harness.post({ location: sent.location })).status).toBe(202);

    await harness.advance(hour, minute);
    expect((await harness.lookup(target, id)).json).toMatchObject({ state: 'Scheduled', reportedState: 'Scheduled' });
    expect(harness.simulator.requestsFor(id).filter((request) => request.status === 200).length).toBeLessThanOrEqual(13);

    await harness.advance(4 * hour + 10 * minute, minute);
    expect((await metrics(harness)).completed).toBe(1);
  });

  it('gives a scheduled ID whose telemetry never appears up at scheduledMaxAge, and counts it as not_found', async () => {
    harness = await Harness.start({ simulator: { planForSend: quickPlan, scheduledTelemetry: 'separate-id' }, hubSettings: { scheduledMaxAge: '6h' } });
    const sent = await sendThroughHub(harness.simulator, 'orders', 'scheduled', { clock: harness.clock, scheduledAt: harness.clock.now() + hour });
    const id = new URL(sent.location).pathname.split('/').at(-1) as string;
    expect((await harness.post({ location: sent.location })).status).toBe(202);

    await harness.advance(5 * hour + 50 * minute, 5 * minute);
    expect((await metrics(harness)).tracked('Scheduled')).toBe(1);
    await harness.advance(20 * minute, 5 * minute);
    const after = await metrics(harness);
    expect([after.expired('not_found'), after.tracked('Scheduled')]).toEqual([1, 0]);
    expect((await harness.lookup(target, id)).json).toMatchObject({ finishReason: 'not_found' });
  });

  it('tracks a scheduled notification ID given with scheduled: true (the .NET SDK returns only the ID)', async () => {
    harness = await Harness.start();
    const id = 'af14e491a7994a65b7b3a5681a373337_20181107001832_33331921_17_QNHQueue930aa64c90d1481bb6b462578a54f1e0-S68116944391983712';
    expect(await harness.post({ target, notificationId: id, scheduled: true })).toEqual({ status: 202, json: { accepted: 1, duplicates: 0 } });
    expect((await harness.lookup(target, id)).json).toMatchObject({ state: 'Scheduled', scheduled: true });
    const contradiction = await harness.post({ location: `https://contoso.servicebus.windows.net/orders/schedulednotifications/${id}`, scheduled: true });
    expect(contradiction.status).toBe(400);
  });
});
