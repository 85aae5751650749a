import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { everliveTarget as target, expectedOutcomes, outcomes, servedSince } from '../support/everlive.js';
import { Harness } from '../support/harness.js';
import { sumOf } from '../support/prometheus-text.js';

const minute = 60_000;
const futureMessage = 'Everlive notification dated in the future; counted, cursor held at the present';

function futureWarnings(harness: Harness): Record<string, unknown>[] {
  return harness.logLines.filter((line) => line.msg === futureMessage);
}

async function messagesTotal(harness: Harness): Promise<number> {
  return sumOf(await harness.scrape(), 'push_notification_messages_total', { source: 'everlive', target });
}

/** Writers whose clocks disagree with each other, the server and the exporter (issue 11, item 5). */
describe('Everlive notifications dated in the future', () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  it.each([
    ['with the server Date header', true],
    ['without a Date header (the exporter clock alone)', false],
  ])('a notification 3 minutes ahead, overlap 1 minute: a new notification and growth on another are counted (%s)', async (_name, dateHeader) => {
    harness = await Harness.start({ hubs: [], everlive: { overlap: '1m' }, everliveSimulator: { dateHeader } });
    const everlive = harness.everliveSimulator;
    const other = everlive.createNotification({ platforms: ['4'] });
    everlive.addFeedback(other, '4', { Sent: 3 });
    const ahead = everlive.createNotification({ platforms: ['3'], clockSkewMilliseconds: 3 * minute });
    everlive.addFeedback(ahead, '3', { Sent: 2, Failed: 1 }, { clockSkewMilliseconds: 3 * minute });

    await harness.runEverlive();
    expect(await outcomes(harness)).toEqual(new Map([['ios/Sent', 3], ['android/Sent', 2], ['android/Failed', 1]]));
    // The cursor stays at the present, not at the notification's ModifiedAt.
    expect(await harness.exporter.store.everlive.cursor(target)).toBeLessThanOrEqual(harness.clock.now());

    harness.clock.advance(30_000);
    const fresh = everlive.createNotification({ platforms: ['4'] });
    everlive.addFeedback(fresh, '4', { Sent: 5 });
    everlive.addFeedback(other, '4', { Sent: 1, Failed: 2 });
    await harness.runEverlive();
    expect(await outcomes(harness)).toEqual(new Map([['ios/Sent', 9], ['ios/Failed', 2], ['android/Sent', 2], ['android/Failed', 1]]));
    expect(await outcomes(harness)).toEqual(expectedOutcomes(harness));
    expect(await messagesTotal(harness)).toBe(3);
    expect(sumOf(await harness.scrape(), 'push_notification_source_up', { source: 'everlive', target })).toBe(1);

    // One warning per run, with how far ahead; never the notification's body.
    const warnings = futureWarnings(harness);
    expect(warnings).toHaveLength(2);
    expect(warnings.map((line) => [line.level, line.aheadSeconds, line.futureDated, line.notificationId])).toEqual([
      ['warn', 180, 1, ahead],
      ['warn', 150, 1, ahead],
    ]);
    expect(warnings[0]?.comparedWith).toBe(dateHeader ? 'server_date' : 'exporter_clock');
    expect(JSON.stringify(harness.logLines)).not.toContain('Jane Doe');
  });

  it("holds the cursor at the server's Date when the exporter's clock is ahead of the server's", async () => {
    // The exporter's clock is 3 minutes ahead of the server's; a writer is 2 minutes ahead of the
    // server (1 minute behind the exporter): only the server's Date shows that it is in the future.
    harness = await Harness.start({ hubs: [], everlive: { overlap: '1m' }, everliveSimulator: { serverClockOffsetMilliseconds: -3 * minute } });
    const everlive = harness.everliveSimulator;
    const other = everlive.createNotification({ platforms: ['4'] });
    everlive.addFeedback(other, '4', { Sent: 3 });
    const ahead = everlive.createNotification({ platforms: ['3'], clockSkewMilliseconds: 2 * minute });
    everlive.addFeedback(ahead, '3', { Sent: 2 }, { clockSkewMilliseconds: 2 * minute });
    await harness.runEverlive();
    expect(await harness.exporter.store.everlive.cursor(target)).toBeLessThanOrEqual(everlive.serverNow());

    harness.clock.advance(30_000);
    everlive.addFeedback(everlive.createNotification({ platforms: ['4'] }), '4', { Sent: 5 });
    everlive.addFeedback(other, '4', { Failed: 2 });
    await harness.runEverlive();
    expect(await outcomes(harness)).toEqual(new Map([['ios/Sent', 8], ['ios/Failed', 2], ['android/Sent', 2]]));
    expect(await messagesTotal(harness)).toBe(3);
    expect(futureWarnings(harness).map((line) => [line.aheadSeconds, line.comparedWith])).toEqual([
      [120, 'server_date'],
      [90, 'server_date'],
    ]);
    // The disagreement between the two clocks is said too, once per run.
    const disagreements = harness.logLines.filter((line) => line.msg === 'Everlive server clock disagrees with the exporter clock');
    expect(disagreements.map((line) => line.serverAheadSeconds)).toEqual([-180, -180]);
  });

  it('pages past several future-dated notifications in one run and warns once per run with the largest skew', async () => {
    harness = await Harness.start({ hubs: [], everlive: { overlap: '1m', pageSize: 2 } });
    const everlive = harness.everliveSimulator;
    for (let index = 0; index < 3; index += 1) everlive.addFeedback(everlive.createNotification({ platforms: ['4'] }), '4', { Sent: 1 });
    const ahead = [1, 2, 3].map((minutes) => {
      const id = everlive.createNotification({ platforms: ['3'], clockSkewMilliseconds: minutes * minute });
      everlive.addFeedback(id, '3', { Sent: minutes }, { clockSkewMilliseconds: minutes * minute });
      return id;
    });

    // Pages of 2: [now, now], [now, +1m], [+2m, +3m], then an empty page: keyset paging goes past them.
    expect(await harness.runEverlive()).toMatchObject({ pages: 4, notifications: 6 });
    expect(await outcomes(harness)).toEqual(new Map([['ios/Sent', 3], ['android/Sent', 6]]));
    expect(await harness.exporter.store.everlive.cursor(target)).toBe(harness.clock.now());

    // 90 s later: the first is in the past now, two are still ahead, and the writer 3 minutes ahead
    // adds growth to one of them (counted once, still 3 minutes ahead).
    harness.clock.advance(90_000);
    everlive.addFeedback(ahead[2] as string, '3', { Failed: 4 }, { clockSkewMilliseconds: 3 * minute });
    await harness.runEverlive();
    // 10 minutes later nothing is ahead any more: no warning.
    harness.clock.advance(10 * minute);
    await harness.runEverlive();
    expect(await outcomes(harness)).toEqual(new Map([['ios/Sent', 3], ['android/Sent', 6], ['android/Failed', 4]]));
    expect(await messagesTotal(harness)).toBe(6);
    expect(futureWarnings(harness).map((line) => [line.aheadSeconds, line.futureDated, line.notificationId])).toEqual([
      [180, 3, ahead[2]],
      [180, 2, ahead[2]],
    ]);
  });

  it('reads a notification dated a year ahead once per run, and the cursor still follows the clock', async () => {
    harness = await Harness.start({ hubs: [], everlive: { overlap: '1m', pageSize: 10 } });
    const everlive = harness.everliveSimulator;
    const year = 365 * 24 * 60 * minute;
    everlive.addFeedback(everlive.createNotification({ platforms: ['4'], clockSkewMilliseconds: year }), '4', { Sent: 7 }, { clockSkewMilliseconds: year });
    await harness.runEverlive();

    for (let run = 0; run < 3; run += 1) {
      // A new notification 2 minutes before each run: outside the next run's overlap.
      harness.clock.advance(3 * minute);
      everlive.addFeedback(everlive.createNotification({ platforms: ['3'] }), '3', { Sent: 1 });
      harness.clock.advance(2 * minute);
      const before = everlive.requests.length;
      // One page: the new notification and the one a year ahead, nothing older than the overlap.
      expect(await harness.runEverlive()).toMatchObject({ pages: 1, notifications: 2 });
      expect(servedSince(harness, before)).toBe(2);
      expect(await harness.exporter.store.everlive.cursor(target)).toBe(harness.clock.now());
    }
    expect(await outcomes(harness)).toEqual(new Map([['ios/Sent', 7], ['android/Sent', 3]]));
    expect(await messagesTotal(harness)).toBe(4);
    expect(futureWarnings(harness)).toHaveLength(4);
  });

  it('moves back a cursor that an earlier version stored in the future, and reads what it had skipped', async () => {
    harness = await Harness.start({ hubs: [], everlive: { overlap: '1m' } });
    const everlive = harness.everliveSimulator;
    everlive.addFeedback(everlive.createNotification({ platforms: ['4'] }), '4', { Sent: 1 });
    await harness.runEverlive();
    const writtenAt = harness.clock.now();
    // The state file as the earlier version left it: the cursor at a notification 3 minutes ahead.
    await harness.exporter.stop();
    const database = new Database(harness.statePath);
    database.prepare('UPDATE everlive_cursors SET modified_at = ? WHERE target = ?').run(writtenAt + 3 * minute, target);
    database.close();
    await harness.startExporter();

    harness.clock.advance(30_000);
    everlive.addFeedback(everlive.createNotification({ platforms: ['4'] }), '4', { Sent: 2 });
    await harness.runEverlive();
    expect(await outcomes(harness)).toEqual(new Map([['ios/Sent', 3]]));
    expect(await harness.exporter.store.everlive.cursor(target)).toBeLessThanOrEqual(harness.clock.now());
    const moved = harness.logLines.filter((line) => line.msg === 'stored Everlive cursor was in the future; moved back');
    expect(moved.map((line) => line.aheadSeconds)).toEqual([180]);
  });
});
