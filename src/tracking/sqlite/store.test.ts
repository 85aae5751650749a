import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { histogramBounds } from '../../metrics/names.js';
import { StoreError } from '../storage.js';
import { SqliteStorage } from './sqlite-storage.js';
import type { PollOutcome } from '../types.js';

describe('SqliteStorage', () => {
  let folder: string;
  let path: string;
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), 'pne-store-'));
    path = join(folder, 'nested', 'state.db');
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  const poll = (overrides: Partial<PollOutcome> = {}): PollOutcome => ({
    target: 'prod',
    notificationId: 'a',
    state: 'Processing',
    nextPollAt: 2_000,
    attempts: 1,
    notFoundCount: 0,
    lastStatus: '200',
    polledAt: 1_000,
    countUpdates: [{ platform: 'apns', outcome: 'Success', count: 9_223_372_036_854_775_807n }],
    counterIncrements: [{ family: 'push_notification_outcomes_total', labels: { target: 'prod', outcome: 'Success' }, value: 5 }],
    histogramObservations: [{ family: 'push_notification_queue_duration_seconds', labels: { target: 'prod' }, value: 0.3 }],
    ...overrides,
  });

  it('creates its folder, stores intake durably and reports duplicates', async () => {
    const store = SqliteStorage.open(path, histogramBounds);
    const first = await store.acceptNotifications([{ target: 'prod', notificationId: 'a' }, { target: 'prod', notificationId: 'b' }], 0, 10_000);
    expect(first.accepted.map((message) => message.notificationId)).toEqual(['a', 'b']);
    const second = await store.acceptNotifications([{ target: 'prod', notificationId: 'a' }, { target: 'other', notificationId: 'a' }], 5, 10_005);
    expect(second.accepted.map((message) => `${message.target}/${message.notificationId}`)).toEqual(['other/a']);
    expect(second.duplicates).toBe(1);
    await store.close();

    const reopened = SqliteStorage.open(path, histogramBounds);
    expect((await reopened.claimWork(['prod', 'other'])).messages).toHaveLength(3);
    const intake = (target: string, result: string) => reopened.counters.get('push_notification_intake_notifications_total', { target, result });
    expect([intake('prod', 'accepted'), intake('other', 'accepted'), intake('prod', 'duplicate'), intake('other', 'duplicate')]).toEqual([2, 1, 1, 0]);
    await reopened.close();
  });

  it('starts a scheduled send in state Scheduled and keeps it so across a restart', async () => {
    const store = SqliteStorage.open(path, histogramBounds);
    const { accepted } = await store.acceptNotifications([{ target: 'prod', notificationId: 's', scheduled: true }, { target: 'prod', notificationId: 'n' }], 0, 10_000);
    expect(accepted.map(({ state, scheduled }) => ({ state, scheduled }))).toEqual([{ state: 'Scheduled', scheduled: true }, { state: 'Pending', scheduled: false }]);
    await store.close();
    const reopened = SqliteStorage.open(path, histogramBounds);
    expect((await reopened.claimWork(['prod', 'other'])).messages.map(({ notificationId, state, scheduled }) => ({ notificationId, state, scheduled }))).toEqual([
      { notificationId: 'n', state: 'Pending', scheduled: false },
      { notificationId: 's', state: 'Scheduled', scheduled: true },
    ]);
    expect(await reopened.getNotification('prod', 's')).toMatchObject({ state: 'Scheduled', scheduled: true });
    await reopened.close();
  });

  it('writes a poll answer in one transaction and loads totals and exact 64-bit counts at start', async () => {
    const store = SqliteStorage.open(path, histogramBounds);
    await store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 0, 10_000);
    await store.recordPoll(poll());
    await store.close();

    const reopened = SqliteStorage.open(path, histogramBounds);
    const [message] = (await reopened.claimWork(['prod', 'other'])).messages;
    expect(message?.state).toBe('Processing');
    expect(message?.lastCounts?.get('apns\u0000Success')).toBe(9_223_372_036_854_775_807n);
    expect(reopened.counters.get('push_notification_outcomes_total', { target: 'prod', outcome: 'Success' })).toBe(5);
    const [histogram] = reopened.histograms.series('push_notification_queue_duration_seconds');
    expect(histogram).toMatchObject({ count: 1, sum: 0.3 });
    await reopened.close();
  });

  it('rolls back everything when one part of a poll answer fails', async () => {
    const store = SqliteStorage.open(path, histogramBounds);
    await store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 0, 10_000);
    // A message that is not tracked: the update touches no row and the whole transaction is refused.
    await expect(store.recordPoll(poll({ notificationId: 'unknown' }))).rejects.toThrow(StoreError);
    // A failure after the message row was already updated: a count SQLite cannot hold.
    const tooLarge = poll({ state: 'Completed', countUpdates: [{ platform: 'apns', outcome: 'Success', count: 2n ** 64n }] });
    await expect(store.recordPoll(tooLarge)).rejects.toThrow();
    expect(store.counters.get('push_notification_outcomes_total', { target: 'prod', outcome: 'Success' })).toBe(0);
    await store.close();
    const reopened = SqliteStorage.open(path, histogramBounds);
    expect(reopened.counters.get('push_notification_outcomes_total', { target: 'prod', outcome: 'Success' })).toBe(0);
    expect([...reopened.histograms.series('push_notification_queue_duration_seconds')]).toEqual([]);
    expect((await reopened.claimWork(['prod', 'other'])).messages).toMatchObject([{ notificationId: 'a', state: 'Pending', attempts: 0 }]);
    expect((await reopened.getNotification('prod', 'a'))?.outcomes).toEqual({});
    await reopened.close();
  });

  it('keeps finished IDs as duplicates until pruned', async () => {
    const store = SqliteStorage.open(path, histogramBounds);
    await store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 0, 10_000);
    await store.recordPoll(poll({ state: 'Completed', nextPollAt: null, finished: { at: 1_000, reason: 'terminal' } }));
    expect((await store.claimWork(['prod', 'other'])).messages).toEqual([]);
    expect((await store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 2_000, 12_000)).duplicates).toBe(1);
    expect(await store.getNotification('prod', 'a')).toMatchObject({ state: 'Completed', finishReason: 'terminal', outcomes: { apns: { Success: Number(9_223_372_036_854_775_807n) } } });
    expect(await store.pruneFinished(1_000)).toBe(0);
    expect(await store.pruneFinished(1_001)).toBe(1);
    expect(await store.getNotification('prod', 'a')).toBeUndefined();
    expect((await store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 3_000, 13_000)).accepted).toHaveLength(1);
    await store.close();
  });

  it('refuses a state file from a newer version', async () => {
    await SqliteStorage.open(path, histogramBounds).close();
    const database = new Database(path);
    database.pragma('user_version = 99');
    database.close();
    expect(() => SqliteStorage.open(path, histogramBounds)).toThrow(/schema version 99, newer than this exporter understands/);
  });
});
