import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { histogramBounds } from '../../metrics/names.js';
import { StoreError } from '../storage.js';
import { SqliteStorage } from './sqlite-storage.js';
import type { PollOutcome } from '../types.js';

describe('SqliteStorage group commit', () => {
  let folder: string;
  let path: string;
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), 'pne-group-commit-'));
    path = join(folder, 'state.db');
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  const terminal = (notificationId: string): PollOutcome => ({
    target: 'prod',
    notificationId,
    state: 'Completed',
    nextPollAt: null,
    attempts: 1,
    notFoundCount: 0,
    lastStatus: '200',
    polledAt: 1_000,
    finished: { at: 1_000, reason: 'terminal' },
    countUpdates: [{ platform: 'apns', outcome: 'Success', count: 3n }],
    counterIncrements: [
      { family: 'push_notification_outcomes_total', labels: { target: 'prod', outcome: 'Success' }, value: 3 },
      { family: 'push_notification_messages_total', labels: { target: 'prod', state: 'Completed' }, value: 1 },
    ],
    histogramObservations: [{ family: 'push_notification_queue_duration_seconds', labels: { target: 'prod' }, value: 0.3 }],
  });

  it('commits answers handed in together as one, and shows them only once committed', async () => {
    const store = SqliteStorage.open(path, histogramBounds);
    const ids = ['a', 'b', 'c', 'd'];
    await store.acceptNotifications(ids.map((notificationId) => ({ target: 'prod', notificationId })), 0, 10_000);
    const writes = ids.map((id) => store.recordPoll(terminal(id)));
    // Nothing is visible before the commit.
    expect(store.counters.get('push_notification_outcomes_total', { target: 'prod', outcome: 'Success' })).toBe(0);
    await Promise.all(writes);
    expect(store.counters.get('push_notification_outcomes_total', { target: 'prod', outcome: 'Success' })).toBe(12);
    expect(store.counters.get('push_notification_messages_total', { target: 'prod', state: 'Completed' })).toBe(4);
    // Every observation of the batch lands in the same histogram series, none overwrites another.
    expect([...store.histograms.series('push_notification_queue_duration_seconds')][0]?.count).toBe(4);
    await store.close();

    const reopened = SqliteStorage.open(path, histogramBounds);
    expect((await reopened.claimWork(['prod', 'other'])).messages).toHaveLength(0);
    expect(reopened.counters.get('push_notification_outcomes_total', { target: 'prod', outcome: 'Success' })).toBe(12);
    expect([...reopened.histograms.series('push_notification_queue_duration_seconds')][0]?.count).toBe(4);
    expect((await reopened.getNotification('prod', 'c'))?.finishReason).toBe('terminal');
    await reopened.close();
  });

  it('fails only the answer that cannot be written, not the others in its batch', async () => {
    const store = SqliteStorage.open(path, histogramBounds);
    await store.acceptNotifications([{ target: 'prod', notificationId: 'a' }, { target: 'prod', notificationId: 'b' }], 0, 10_000);
    const results = await Promise.allSettled([
      store.recordPoll(terminal('a')),
      store.recordPoll(terminal('not-tracked')),
      store.recordPoll(terminal('b')),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
    expect(store.counters.get('push_notification_messages_total', { target: 'prod', state: 'Completed' })).toBe(2);
    expect(store.counters.get('push_notification_outcomes_total', { target: 'prod', outcome: 'Success' })).toBe(6);
    await store.close();
  });
});
