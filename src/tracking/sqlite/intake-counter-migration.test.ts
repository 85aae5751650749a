import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { histogramBounds } from '../../metrics/names.js';
import { labelKey, type LabelSet } from '../../metrics/totals.js';
import { migrations } from './schema.js';
import { SqliteStorage } from './sqlite-storage.js';

const intake = 'push_notification_intake_notifications_total';
const azure = 'azure_notification_hubs';

/**
 * A state file as the exporter wrote it before intake counts had a target (schema version 3: the
 * first three migrations, exactly as they were), with counters and tracked messages.
 */
function writeOldStateFile(path: string, legacyAccepted: number): void {
  const database = new Database(path);
  for (const migration of migrations.slice(0, 3)) database.exec(migration as string);
  database.pragma('user_version = 3');
  const counter = database.prepare(`INSERT INTO counter_totals (family, labels, value) VALUES (?, ?, ?)`);
  const add = (family: string, labels: LabelSet, value: number) => counter.run(family, labelKey(labels), value);
  add(intake, { result: 'accepted' }, legacyAccepted);
  add(intake, { result: 'duplicate' }, 2);
  add(intake, { result: 'rejected' }, 3);
  add('push_notification_messages_total', { source: azure, target: 'prod', state: 'Completed' }, 4);
  add('push_notification_messages_total', { source: azure, target: 'prod', state: 'Abandoned' }, 1);
  add('push_notification_tracking_expired_total', { source: azure, target: 'prod', reason: 'not_found' }, 1);
  add('push_notification_messages_total', { source: azure, target: 'other', state: 'Completed' }, 1);
  // Everlive notifications never came through the intake: they must not be attributed.
  add('push_notification_messages_total', { source: 'everlive', target: 'legacy', state: 'Unknown' }, 7);
  const message = database.prepare(`INSERT INTO azure_messages (target, notification_id, state, accepted_at, next_poll_at) VALUES (?, ?, 'Pending', 0, 0)`);
  message.run('prod', 'tracked-1');
  message.run('prod', 'tracked-2');
  message.run('other', 'tracked-3');
  database.close();
}

describe('upgrading intake counts to per-target series', () => {
  let folder: string;
  let path: string;
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), 'pne-migration-'));
    path = join(folder, 'state.db');
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  async function intakeSeries(): Promise<Record<string, number>> {
    const store = SqliteStorage.open(path, histogramBounds);
    try {
      const series = [...store.counters.series(intake)];
      expect(series.every((entry) => entry.labels.target !== undefined)).toBe(true);
      return Object.fromEntries(series.map((entry) => [`${entry.labels.target}/${entry.labels.result}`, entry.value]));
    } finally {
      await store.close();
    }
  }

  it('splits the old accepted total by where accepted IDs ended up, so the per-target invariant holds', async () => {
    // prod: 5 terminal + 1 expired + 2 tracked = 8; other: 1 terminal + 1 tracked = 2.
    writeOldStateFile(path, 10);
    expect(await intakeSeries()).toEqual({ 'prod/accepted': 8, 'other/accepted': 2, '/duplicate': 2, '/rejected': 3 });
  });

  it('keeps what the split does not explain under target="", so no count is lost', async () => {
    writeOldStateFile(path, 13);
    expect(await intakeSeries()).toEqual({ 'prod/accepted': 8, 'other/accepted': 2, '/accepted': 3, '/duplicate': 2, '/rejected': 3 });
  });

  it('keeps an old total that is smaller than what ended whole, under target=""', async () => {
    writeOldStateFile(path, 6);
    expect(await intakeSeries()).toEqual({ '/accepted': 6, '/duplicate': 2, '/rejected': 3 });
  });

  it('runs once: a second start changes nothing, and new items count per target on top', async () => {
    writeOldStateFile(path, 10);
    const store = SqliteStorage.open(path, histogramBounds);
    await store.acceptNotifications([{ target: 'prod', notificationId: 'new' }], 1, 10_001);
    await store.countRejectedIntake(['', 'prod']);
    await store.close();
    expect(await intakeSeries()).toEqual({ 'prod/accepted': 9, 'other/accepted': 2, '/duplicate': 2, '/rejected': 4, 'prod/rejected': 1 });
  });
});
