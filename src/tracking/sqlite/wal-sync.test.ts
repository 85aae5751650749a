import { fdatasync, mkdtempSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { histogramBounds } from '../../metrics/names.js';
import { openStateFile } from './open.js';
import { SqliteStorage } from './sqlite-storage.js';
import { WalSync, type SyncFunction } from './wal-sync.js';

const intake = 'push_notification_intake_notifications_total';

/** A real fdatasync that waits until the test lets it finish (or fail). */
class HeldSync {
  calls = 0;
  private held: (() => void)[] = [];
  failWith: NodeJS.ErrnoException | undefined;

  readonly sync: SyncFunction = (fd, callback) => {
    this.calls += 1;
    this.held.push(() => {
      if (this.failWith) callback(this.failWith);
      else fdatasync(fd, callback);
    });
  };

  get waiting(): number {
    return this.held.length;
  }

  release(): void {
    for (const finish of this.held.splice(0)) finish();
  }
}

/** Lets promise callbacks and I/O callbacks run. */
const turn = () => new Promise((resolve) => setTimeout(resolve, 20));

function settled(promise: Promise<unknown>): { done: boolean } {
  const state = { done: false };
  promise.then(
    () => (state.done = true),
    () => (state.done = true),
  );
  return state;
}

describe('WalSync: nothing is acknowledged before its commit is on disk', () => {
  let folder: string;
  let path: string;
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), 'pne-wal-sync-'));
    path = join(folder, 'state.db');
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  it('answers an intake request and counts it only after the flush that followed its commit', async () => {
    const held = new HeldSync();
    const store = SqliteStorage.open(path, histogramBounds, held.sync);
    const first = store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 1_000, 11_000);
    const firstState = settled(first);
    await turn();
    // Committed to the WAL, but the flush has not finished: no answer, no count.
    expect(held.waiting).toBe(1);
    expect(firstState.done).toBe(false);
    expect(store.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(0);

    // The event loop is free meanwhile: another request is read and waits for the next flush.
    const second = store.acceptNotifications([{ target: 'prod', notificationId: 'b' }], 1_000, 11_000);
    const secondState = settled(second);
    await turn();
    expect(secondState.done).toBe(false);

    held.release();
    expect((await first).accepted.map((message) => message.notificationId)).toEqual(['a']);
    expect(store.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(1);
    expect(secondState.done).toBe(false);
    await turn();
    // The second request's commit came after the first flush began: it needs a flush of its own.
    expect(held.waiting).toBe(1);
    held.release();
    expect((await second).accepted.map((message) => message.notificationId)).toEqual(['b']);
    expect(store.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(2);
    expect(held.calls).toBe(2);
    await store.close();

    const reopened = SqliteStorage.open(path, histogramBounds);
    expect(reopened.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(2);
    await reopened.close();
  });

  it('refuses what a failed flush covered, counts none of it, and calls the state file lost', async () => {
    const held = new HeldSync();
    const store = SqliteStorage.open(path, histogramBounds, held.sync);
    const pending = store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 1_000, 11_000);
    await turn();
    held.failWith = Object.assign(new Error('input/output error'), { code: 'EIO' });
    held.release();
    await expect(pending).rejects.toThrow(/cannot flush the state file's write-ahead log to disk \(EIO\)/);
    expect(store.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(0);
    expect(store.problem()?.lasting).toBe(true);
    expect(store.problem()?.message).toMatch(/write-ahead log.*EIO.*restart/);
    // After a failed fsync nothing later can be trusted to reach the disk either.
    await expect(store.acceptNotifications([{ target: 'prod', notificationId: 'b' }], 1_000, 11_000)).rejects.toThrow(/EIO/);
    await store.close();
  });

  it('notices a write-ahead log deleted by hand, as it does a deleted state file', async () => {
    const store = SqliteStorage.open(path, histogramBounds);
    await store.acceptNotifications([{ target: 'prod', notificationId: 'a' }], 1_000, 11_000);
    expect(store.problem()).toBeUndefined();
    unlinkSync(`${path}-wal`);
    await store.checkHealth();
    expect(store.problem()?.lasting).toBe(true);
    expect(store.problem()?.message).toContain('write-ahead log of the state file');
    await store.close();
  });

  it('flushes the same WAL file SQLite writes, through commits and checkpoints', async () => {
    const database = openStateFile(path);
    database.pragma('synchronous = NORMAL');
    const wal = WalSync.open(path);
    const inode = statSync(`${path}-wal`).ino;
    database.exec('CREATE TABLE filler (text TEXT)');
    const insert = database.prepare('INSERT INTO filler VALUES (?)');
    // Enough to pass the automatic checkpoint (1,000 pages) several times.
    for (let index = 0; index < 30_000; index += 1) insert.run('x'.repeat(200));
    expect(wal.isSameFile()).toBe(true);
    database.pragma('wal_checkpoint(TRUNCATE)');
    expect(statSync(`${path}-wal`).size).toBe(0);
    insert.run('after the truncation');
    expect(statSync(`${path}-wal`).ino).toBe(inode);
    expect(wal.isSameFile()).toBe(true);
    let applied = false;
    await wal.settle(() => (applied = true));
    expect(applied).toBe(true);
    await wal.close();
    database.close();
  });
});
