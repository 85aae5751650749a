import { afterEach, describe, expect, it } from 'vitest';
import { everliveTarget as target, expectedOutcomes, outcomes, servedSince } from '../support/everlive.js';
import { storageBackends } from '../support/backends.js';
import { everliveAppId, everliveMasterKey, Harness } from '../support/harness.js';
import { groupBy, sumOf } from '../support/prometheus-text.js';

const platformsCycle = [['4'], ['3'], ['4', '3'], ['1', '2'], ['100'], ['42', '4']];

const backends = storageBackends();

describe.each(backends.names)('Everlive push feedback on the simulator (%s)', (backend) => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  it('counts growth exactly across pages, runs and a restart, reading only what changed', async () => {
    harness = await Harness.start({ ...backends.options(backend), hubs: [], everlive: { pageSize: 50 } });
    const everlive = harness.everliveSimulator;
    const ids = Array.from({ length: 230 }, (_, index) =>
      everlive.createNotification({ platforms: platformsCycle[index % platformsCycle.length], status: index % 10 === 0 ? null : 'Sent' }),
    );
    ids.forEach((id, index) => {
      for (const key of platformsCycle[index % platformsCycle.length] as string[]) everlive.addFeedback(id, key, { Sent: 3 + (index % 7), Failed: index % 3 });
    });

    const first = await harness.runEverlive();
    expect(first).toMatchObject({ pages: 5, notifications: 230, invalid: 0 });
    expect(await outcomes(harness)).toEqual(expectedOutcomes(harness));
    const samples = await harness.scrape();
    expect(groupBy(samples, 'push_notification_messages_total', ['state'], { source: 'everlive', target })).toEqual(
      new Map([
        ['Sent', 207],
        ['Unknown', 23],
      ]),
    );
    expect(sumOf(samples, 'push_notification_source_up', { source: 'everlive', target })).toBe(1);

    // Feedback keeps arriving: several runs, each adds exactly the growth.
    for (let round = 0; round < 3; round += 1) {
      harness.clock.advance(5 * 60_000);
      for (const id of ids.slice(round * 10, round * 10 + 10)) everlive.addFeedback(id, '4', { Sent: 2, Failed: 1, Deactivated: 1 });
      const before = everlive.requests.length;
      await harness.runEverlive();
      expect(await outcomes(harness)).toEqual(expectedOutcomes(harness));
      if (round > 0) {
        // Proportional to what changed (this round's 10 and the previous round's, inside the overlap), not to 230.
        expect(servedSince(harness, before)).toBeLessThanOrEqual(20);
      }
    }

    await harness.restart();
    await harness.runEverlive();
    expect(await outcomes(harness)).toEqual(expectedOutcomes(harness));
    harness.clock.advance(60_000);
    everlive.addFeedback(ids[100] as string, '3', { Sent: 50 });
    await harness.runEverlive();
    expect(await outcomes(harness)).toEqual(expectedOutcomes(harness));
    expect(sumOf(await harness.scrape(), 'push_notification_messages_total', { source: 'everlive', target })).toBe(230);
  });

  it('loses nothing at equal timestamps: ties across a page boundary and a change at the cursor instant', async () => {
    harness = await Harness.start({ ...backends.options(backend), hubs: [], everlive: { pageSize: 5, overlap: '0s' } });
    const everlive = harness.everliveSimulator;
    // 12 notifications all modified at the same millisecond, read 5 at a time.
    const ids = Array.from({ length: 12 }, () => everlive.createNotification({ platforms: ['4'] }));
    for (const id of ids) everlive.addFeedback(id, '4', { Sent: 1 });
    const run = await harness.runEverlive();
    expect(run.notifications).toBe(12);
    expect(await outcomes(harness)).toEqual(new Map([['ios/Sent', 12]]));

    // A change at exactly the cursor's instant is still read: the filter is ModifiedAt >= cursor.
    everlive.addFeedback(ids[3] as string, '4', { Failed: 2 });
    const requestsBefore = everlive.requests.length;
    await harness.runEverlive();
    expect(await outcomes(harness)).toEqual(new Map([['ios/Sent', 12], ['ios/Failed', 2]]));
    const firstFilter = everlive.requests[requestsBefore]?.filter as { ModifiedAt: { $gte: string } };
    expect(Date.parse(firstFilter.ModifiedAt.$gte)).toBe(harness.clock.now());
    // Later pages continue strictly after the last notification read, by (ModifiedAt, Id).
    expect(everlive.requests[requestsBefore + 1]?.filter).toMatchObject({ $or: [{ ModifiedAt: { $gt: expect.any(String) as unknown } }, { Id: { $gt: expect.any(String) as unknown } }] });
  });

  it('misses nothing when a notification read earlier in the run is modified before the next page', async () => {
    harness = await Harness.start({ ...backends.options(backend), hubs: [], everlive: { pageSize: 5, overlap: '1m' } });
    const everlive = harness.everliveSimulator;
    // Seven notifications modified in the same millisecond, read an hour later (outside any overlap).
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id) => everlive.createNotification({ id, platforms: ['4'] }));
    for (const id of ids) everlive.addFeedback(id, '4', { Sent: 1 });
    harness.clock.advance(60 * 60_000);
    const listsBefore = everlive.requests.length;
    everlive.beforeList = (number) => {
      if (number === listsBefore + 2) everlive.addFeedback('a', '4', { Sent: 1 });
    };
    await harness.runEverlive();
    expect(await outcomes(harness)).toEqual(new Map([['ios/Sent', 8]]));
    expect(sumOf(await harness.scrape(), 'push_notification_messages_total', { source: 'everlive', target })).toBe(7);
  });

  it('skips malformed items with a counted, logged reason, once, without stopping the run', async () => {
    harness = await Harness.start({ ...backends.options(backend), hubs: [], everlive: { pageSize: 4 } });
    const everlive = harness.everliveSimulator;
    const now = new Date(harness.clock.now()).toISOString();
    const good = Array.from({ length: 5 }, () => everlive.createNotification({ platforms: ['3'] }));
    for (const id of good) everlive.addFeedback(id, '3', { Sent: 4, Failed: 1 });
    everlive.putRaw({ Id: 'negative', ModifiedAt: now, Feedback: { '4': { Sent: -5, Failed: 0, Deactivated: 0 } } });
    everlive.putRaw({ ModifiedAt: now, Feedback: { '4': { Sent: 5 } } });
    everlive.putRaw({ Id: 'word-key', ModifiedAt: now, Feedback: { ios: { Sent: 1, Failed: 0, Deactivated: 0 } } });
    everlive.putRaw({ Id: 'text-count', ModifiedAt: now, Feedback: { '4': { Sent: '7', Failed: 0, Deactivated: 0 } } });
    const valid = (document: Record<string, unknown>) => typeof document.Id === 'string' && good.includes(document.Id);

    const run = await harness.runEverlive();
    expect(run).toMatchObject({ notifications: 9, invalid: 4 });
    await harness.runEverlive();
    const samples = await harness.scrape();
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { source: 'everlive', target })).toEqual(expectedOutcomes(harness, valid));
    expect(groupBy(samples, 'push_notification_invalid_items_total', ['reason'], { target })).toEqual(
      new Map([
        ['invalid_count', 2],
        ['missing_id', 1],
        ['invalid_platform', 1],
      ]),
    );
    const skipped = harness.logLines.filter((line) => line.msg === 'skipped malformed Everlive notification');
    expect(skipped).toHaveLength(4);
    expect(skipped.map((line) => line.reason).sort()).toEqual(['invalid_count', 'invalid_count', 'invalid_platform', 'missing_id']);
  });

  it('counts a notification whose Feedback also carries top-level totals by its platform keys, never the totals', async () => {
    harness = await Harness.start({ ...backends.options(backend), hubs: [], everlive: {}, everliveSimulator: { feedbackTotals: true } });
    const everlive = harness.everliveSimulator;
    const id = everlive.createNotification({ platforms: ['4', '3'] });
    everlive.addFeedback(id, '4', { Sent: 8, Failed: 1 });
    everlive.addFeedback(id, '3', { Sent: 2, Deactivated: 1 });
    // The server really serves the totals: Telerik's documented filter finds the notification.
    const found = await fetch(`${everlive.url}/${everliveAppId}/Push/Notifications`, {
      headers: { authorization: `Masterkey ${everliveMasterKey}`, 'x-everlive-filter': '{"Feedback.Failed":{"$gt":0}}' },
    });
    expect(((await found.json()) as { Result: { Feedback: Record<string, unknown> }[] }).Result[0]?.Feedback).toMatchObject({ Sent: 10, Failed: 1, Deactivated: 1 });

    expect(await harness.runEverlive()).toMatchObject({ notifications: 1, invalid: 0 });
    const expected = new Map([
      ['ios/Sent', 8],
      ['ios/Failed', 1],
      ['android/Sent', 2],
      ['android/Deactivated', 1],
    ]);
    expect(await outcomes(harness)).toEqual(expected);
    expect(expectedOutcomes(harness)).toEqual(expected);
    // Growth, read again: only the platform growth is added, the grown totals add nothing.
    harness.clock.advance(60_000);
    everlive.addFeedback(id, '4', { Failed: 2 });
    await harness.runEverlive();
    expect(await outcomes(harness)).toEqual(new Map([...expected, ['ios/Failed', 3]]));
    const samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_messages_total', { source: 'everlive', target })).toBe(1);
    expect(sumOf(samples, 'push_notification_invalid_items_total', { target })).toBe(0);
    expect(harness.logLines.filter((line) => line.msg === 'skipped malformed Everlive notification')).toEqual([]);
  });

  it('writes one failure log line per notification whose failures grew, with its logs when configured', async () => {
    harness = await Harness.start({ ...backends.options(backend), hubs: [], everlive: { logsPath: 'Push/Notifications/{id}/Logs', reasonField: 'Reason' } });
    const everlive = harness.everliveSimulator;
    const failing = everlive.createNotification({ platforms: ['4', '3'] });
    const fine = everlive.createNotification({ platforms: ['4'] });
    everlive.addFeedback(failing, '4', { Sent: 8, Failed: 1 });
    everlive.addFeedback(failing, '3', { Sent: 2, Failed: 2, Deactivated: 1 });
    everlive.addFeedback(fine, '4', { Sent: 3 });
    everlive.setLogs(failing, [
      { Reason: 'InvalidToken', DeviceId: 'device-1' },
      { Reason: 'InvalidToken', DeviceId: 'device-2' },
      { Reason: 'ServiceUnavailable', DeviceId: 'device-3' },
    ]);
    await harness.runEverlive();
    const lines = harness.logLines.filter((line) => line.msg === 'notification has failed deliveries');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      target,
      notificationId: failing,
      failedGrowth: 3,
      platforms: { ios: { sent: 8, failed: 1, deactivated: 0 }, android: { sent: 2, failed: 2, deactivated: 1 } },
      logEntries: 3,
      reasons: ['InvalidToken', 'ServiceUnavailable'],
    });
    // Re-reading without new failures logs nothing more; the message body is never logged.
    await harness.runEverlive();
    expect(harness.logLines.filter((line) => line.msg === 'notification has failed deliveries')).toHaveLength(1);
    expect(JSON.stringify(harness.logLines)).not.toContain('Jane Doe');
    expect(JSON.stringify(harness.logLines)).not.toContain('everlive-master-key-do-not-log');
  });

  it('keeps the cursor at the last complete page when a run fails part-way, then catches up exactly', async () => {
    harness = await Harness.start({ ...backends.options(backend), hubs: [], everlive: { pageSize: 5 } });
    const everlive = harness.everliveSimulator;
    const start = harness.clock.now();
    for (let index = 0; index < 12; index += 1) {
      const id = everlive.createNotification({ platforms: ['4'] });
      everlive.addFeedback(id, '4', { Sent: index + 1 });
      harness.clock.advance(1_000);
    }
    everlive.injectFault({ kind: 'status', status: 500, message: 'Internal error' }, 1, 1);
    const failed = await harness.runEverlive();
    expect(failed).toMatchObject({ pages: 1, error: expect.stringContaining('500') as unknown });
    // The cursor is the ModifiedAt of the last notification of the one complete page.
    expect(await harness.exporter.store.everlive.cursor(target)).toBe(start + 4_000);
    expect(sumOf(await harness.scrape(), 'push_notification_outcomes_total', { target })).toBe(1 + 2 + 3 + 4 + 5);
    expect(sumOf(await harness.scrape(), 'push_notification_source_up', { target })).toBe(0);
    // A run while backing off does nothing; the next scheduled run after the pause catches up.
    expect(await harness.runEverlive()).toMatchObject({ skipped: 'paused' });

    harness.clock.advance(60_000);
    await harness.runEverlive();
    expect(await outcomes(harness)).toEqual(expectedOutcomes(harness));
    expect(sumOf(await harness.scrape(), 'push_notification_source_up', { target })).toBe(1);
  });

  it.each([
    ['401', { kind: 'status' as const, status: 401, errorCode: 301, message: 'Invalid master key' }, '401', 'Everlive rejected the master key'],
    ['403', { kind: 'status' as const, status: 403, errorCode: 302, message: 'Forbidden' }, '403', 'Everlive refused access'],
    ['503', { kind: 'status' as const, status: 503 }, '503', 'upstream is throttling'],
    ['a timeout', { kind: 'delay' as const, milliseconds: 1_500 }, 'timeout', 'upstream request failed'],
    ['malformed JSON', { kind: 'malformed' as const }, '200', 'unusable upstream answer'],
  ])('marks the source down on %s, logs it once, and recovers by itself', async (_name, fault, code, logText) => {
    harness = await Harness.start({ ...backends.options(backend), hubs: [], everlive: { requestTimeout: '300ms' } });
    const everlive = harness.everliveSimulator;
    const id = everlive.createNotification({ platforms: ['4'] });
    everlive.addFeedback(id, '4', { Sent: 5, Failed: 1 });
    everlive.injectFault(fault, 2);
    await harness.runEverlive();
    harness.clock.advance(10 * 60_000);
    await harness.runEverlive();
    let samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_source_up', { source: 'everlive', target })).toBe(0);
    expect(sumOf(samples, 'push_notification_upstream_requests_total', { source: 'everlive', target, operation: 'list_notifications', code })).toBe(2);
    expect(harness.logLines.filter((line) => String(line.msg).includes(logText)).length).toBe(code === '200' ? 2 : 1);
    if (code === '401') expect(harness.logLines.some((line) => line.detail === 'errorCode 301: Invalid master key')).toBe(true);

    harness.clock.advance(10 * 60_000);
    await harness.runEverlive();
    samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_source_up', { source: 'everlive', target })).toBe(1);
    expect(await outcomes(harness)).toEqual(new Map([['ios/Sent', 5], ['ios/Failed', 1]]));
  });
});
