import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { histogramBounds } from '../../metrics/names.js';
import type { NewNotification } from '../types.js';
import { SqliteStorage } from './sqlite-storage.js';

const intake = 'push_notification_intake_notifications_total';

/** The IDs the state file holds (it is locked to its one connection: asked through the store). */
async function storedIds(store: SqliteStorage): Promise<string[]> {
  return (await store.listNotifications({ limit: 500 })).map((summary) => summary.notificationId).sort();
}

describe('SqliteStorage intake group commit', () => {
  let folder: string;
  let path: string;
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), 'pne-intake-group-'));
    path = join(folder, 'state.db');
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  it('writes requests handed in together in one transaction, each with its own answer, a repeated ID accepted once', async () => {
    const store = SqliteStorage.open(path, histogramBounds);
    const before = store.intakeTransactions;
    const requests: NewNotification[][] = [
      [{ target: 'prod', notificationId: 'a' }],
      [{ target: 'prod', notificationId: 'b' }],
      // The same ID as the first request, in the same group: a duplicate.
      [{ target: 'prod', notificationId: 'a' }],
      [{ target: 'prod', notificationId: 'c' }, { target: 'prod', notificationId: 'd', scheduled: true }],
    ];
    const pending = requests.map((items) => store.acceptNotifications(items, 1_000, 11_000));
    // Nothing is committed (nor counted) before the group's transaction.
    expect(await storedIds(store)).toEqual([]);
    expect(store.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(0);
    const results = await Promise.all(pending);

    expect(store.intakeTransactions - before).toBe(1);
    expect(results.map((result) => result.accepted.map((message) => message.notificationId))).toEqual([['a'], ['b'], [], ['c', 'd']]);
    expect(results.map((result) => result.duplicates)).toEqual([0, 0, 1, 0]);
    expect(results[3]?.accepted.map((message) => message.state)).toEqual(['Pending', 'Scheduled']);
    expect(await storedIds(store)).toEqual(['a', 'b', 'c', 'd']);
    expect(store.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(4);
    expect(store.counters.get(intake, { target: 'prod', result: 'duplicate' })).toBe(1);

    // A request alone is written at once, in a transaction of its own.
    const alone = await store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 2_000, 12_000);
    expect(alone).toEqual({ accepted: [], duplicates: 1 });
    expect(store.intakeTransactions - before).toBe(2);
    await store.close();

    const reopened = SqliteStorage.open(path, histogramBounds);
    expect((await reopened.claimWork(['prod'])).messages.map((message) => message.notificationId).sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(reopened.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(4);
    expect(reopened.counters.get(intake, { target: 'prod', result: 'duplicate' })).toBe(2);
    await reopened.close();
  });

  it('fails only the request that cannot be written: the others of its group are committed and answered', async () => {
    const store = SqliteStorage.open(path, histogramBounds);
    // An ID SQLite cannot bind (validation upstream never lets one through): its insert throws.
    const unwritable = { target: 'prod', notificationId: { not: 'a string' } as unknown as string };
    const results = await Promise.allSettled([
      store.acceptNotifications([{ target: 'prod', notificationId: 'x' }], 1_000, 11_000),
      store.acceptNotifications([{ target: 'prod', notificationId: 'y' }, unwritable], 1_000, 11_000),
      store.acceptNotifications([{ target: 'prod', notificationId: 'z' }, { target: 'prod', notificationId: 'x' }], 1_000, 11_000),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const answers = results.map((result) => (result.status === 'fulfilled' ? result.value : undefined));
    expect(answers[0]?.accepted.map((message) => message.notificationId)).toEqual(['x']);
    expect(answers[2]?.accepted.map((message) => message.notificationId)).toEqual(['z']);
    expect(answers[2]?.duplicates).toBe(1);
    // The failed request stored nothing, not even its good item; the others' are all there.
    expect(await storedIds(store)).toEqual(['x', 'z']);
    expect(store.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(2);
    expect(store.counters.get(intake, { target: 'prod', result: 'duplicate' })).toBe(1);
    await store.close();
  });
});
