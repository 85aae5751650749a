import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { histogramBounds } from '../metrics/names.js';
import { StoreError, TrackingStore } from './store.js';
import type { PollOutcome } from './types.js';

describe('TrackingStore', () => {
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

  it('creates its folder, stores intake durably and reports duplicates', () => {
    const store = TrackingStore.open(path, histogramBounds);
    const first = store.acceptNotifications([{ target: 'prod', notificationId: 'a' }, { target: 'prod', notificationId: 'b' }], 0, 10_000);
    expect(first.accepted.map((message) => message.notificationId)).toEqual(['a', 'b']);
    const second = store.acceptNotifications([{ target: 'prod', notificationId: 'a' }, { target: 'other', notificationId: 'a' }], 5, 10_005);
    expect(second.accepted.map((message) => `${message.target}/${message.notificationId}`)).toEqual(['other/a']);
    expect(second.duplicates).toBe(1);
    store.close();

    const reopened = TrackingStore.open(path, histogramBounds);
    expect(reopened.loadActiveMessages()).toHaveLength(3);
    const intake = (target: string, result: string) => reopened.counters.get('push_notification_intake_notifications_total', { target, result });
    expect([intake('prod', 'accepted'), intake('other', 'accepted'), intake('prod', 'duplicate'), intake('other', 'duplicate')]).toEqual([2, 1, 1, 0]);
    reopened.close();
  });

  it('starts a scheduled send in state Scheduled and keeps it so across a restart', () => {
    const store = TrackingStore.open(path, histogramBounds);
    const { accepted } = store.acceptNotifications([{ target: 'prod', notificationId: 's', scheduled: true }, { target: 'prod', notificationId: 'n' }], 0, 10_000);
    expect(accepted.map(({ state, scheduled }) => ({ state, scheduled }))).toEqual([{ state: 'Scheduled', scheduled: true }, { state: 'Pending', scheduled: false }]);
    store.close();
    const reopened = TrackingStore.open(path, histogramBounds);
    expect(reopened.loadActiveMessages().map(({ notificationId, state, scheduled }) => ({ notificationId, state, scheduled }))).toEqual([
      { notificationId: 'n', state: 'Pending', scheduled: false },
      { notificationId: 's', state: 'Scheduled', scheduled: true },
    ]);
    expect(reopened.getNotification('prod', 's')).toMatchObject({ state: 'Scheduled', scheduled: true });
    reopened.close();
  });

  it('writes a poll answer in one transaction and loads totals and exact 64-bit counts at start', () => {
    const store = TrackingStore.open(path, histogramBounds);
    store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 0, 10_000);
    store.recordPoll(poll());
    store.close();

    const reopened = TrackingStore.open(path, histogramBounds);
    const [message] = reopened.loadActiveMessages();
    expect(message?.state).toBe('Processing');
    expect(message?.lastCounts.get('apns\u0000Success')).toBe(9_223_372_036_854_775_807n);
    expect(reopened.counters.get('push_notification_outcomes_total', { target: 'prod', outcome: 'Success' })).toBe(5);
    const [histogram] = reopened.histograms.series('push_notification_queue_duration_seconds');
    expect(histogram).toMatchObject({ count: 1, sum: 0.3 });
    reopened.close();
  });

  it('rolls back everything when one part of a poll answer fails', () => {
    const store = TrackingStore.open(path, histogramBounds);
    store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 0, 10_000);
    // A message that is not tracked: the update touches no row and the whole transaction is refused.
    expect(() => store.recordPoll(poll({ notificationId: 'unknown' }))).toThrow(StoreError);
    // A failure after the message row was already updated: a count SQLite cannot hold.
    const tooLarge = poll({ state: 'Completed', countUpdates: [{ platform: 'apns', outcome: 'Success', count: 2n ** 64n }] });
    expect(() => store.recordPoll(tooLarge)).toThrow();
    expect(store.counters.get('push_notification_outcomes_total', { target: 'prod', outcome: 'Success' })).toBe(0);
    store.close();
    const reopened = TrackingStore.open(path, histogramBounds);
    expect(reopened.counters.get('push_notification_outcomes_total', { target: 'prod', outcome: 'Success' })).toBe(0);
    expect([...reopened.histograms.series('push_notification_queue_duration_seconds')]).toEqual([]);
    expect(reopened.loadActiveMessages()).toMatchObject([{ notificationId: 'a', state: 'Pending', attempts: 0 }]);
    expect(reopened.getNotification('prod', 'a')?.outcomes).toEqual({});
    reopened.close();
  });

  it('keeps finished IDs as duplicates until pruned', () => {
    const store = TrackingStore.open(path, histogramBounds);
    store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 0, 10_000);
    store.recordPoll(poll({ state: 'Completed', nextPollAt: null, finished: { at: 1_000, reason: 'terminal' } }));
    expect(store.loadActiveMessages()).toEqual([]);
    expect(store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 2_000, 12_000).duplicates).toBe(1);
    expect(store.getNotification('prod', 'a')).toMatchObject({ state: 'Completed', finishReason: 'terminal', outcomes: { apns: { Success: Number(9_223_372_036_854_775_807n) } } });
    expect(store.pruneFinished(1_000)).toBe(0);
    expect(store.pruneFinished(1_001)).toBe(1);
    expect(store.getNotification('prod', 'a')).toBeUndefined();
    expect(store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 3_000, 13_000).accepted).toHaveLength(1);
    store.close();
  });

  it('refuses a state file from a newer version', () => {
    TrackingStore.open(path, histogramBounds).close();
    const database = new Database(path);
    database.pragma('user_version = 99');
    database.close();
    expect(() => TrackingStore.open(path, histogramBounds)).toThrow(/schema version 99, newer than this exporter understands/);
  });
});
