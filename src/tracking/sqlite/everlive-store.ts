import type Database from 'better-sqlite3';
import type { CounterIncrement } from '../../metrics/totals.js';
import type { EverlivePageChange, FeedbackCounts, SeenNotification } from '../storage.js';

/** The Everlive part of the state file; shares the storage's connection and counter totals. Synchronous: SqliteStorage wraps it. */
export class SqliteEverlive {
  private readonly statements;

  constructor(
    private readonly database: Database.Database,
    private readonly persistCounters: (increments: readonly CounterIncrement[]) => void,
    private readonly applyCounters: (increments: readonly CounterIncrement[]) => void,
  ) {
    this.statements = {
      cursor: database.prepare(`SELECT modified_at FROM everlive_cursors WHERE target = ?`),
      cursorRow: database.prepare(`SELECT modified_at, updated_at FROM everlive_cursors WHERE target = ?`),
      lowerCursor: database.prepare(`UPDATE everlive_cursors SET modified_at = ?, updated_at = ? WHERE target = ? AND modified_at > ?`),
      putCursor: database.prepare(
        `INSERT INTO everlive_cursors (target, modified_at, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (target) DO UPDATE SET modified_at = max(modified_at, excluded.modified_at), updated_at = excluded.updated_at`,
      ),
      notification: database.prepare(`SELECT status FROM everlive_notifications WHERE target = ? AND notification_id = ?`),
      feedback: database.prepare(
        `SELECT platform_key, sent, failed, deactivated FROM everlive_feedback WHERE target = ? AND notification_id = ?`,
      ),
      upsertNotification: database.prepare(
        `INSERT INTO everlive_notifications (target, notification_id, status, first_seen_at, modified_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (target, notification_id) DO UPDATE SET status = excluded.status, modified_at = excluded.modified_at`,
      ),
      upsertFeedback: database.prepare(
        `INSERT INTO everlive_feedback (target, notification_id, platform_key, sent, failed, deactivated) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (target, notification_id, platform_key) DO UPDATE SET
           sent = excluded.sent, failed = excluded.failed, deactivated = excluded.deactivated`,
      ),
      insertInvalid: database.prepare(
        `INSERT INTO everlive_invalid_items (target, item_key, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      pruneInvalid: database.prepare(`DELETE FROM everlive_invalid_items WHERE target = ? AND seen_at < ?`),
      pruneFeedback: database.prepare(
        `DELETE FROM everlive_feedback WHERE (target, notification_id) IN
           (SELECT target, notification_id FROM everlive_notifications WHERE target = ? AND modified_at < ?)`,
      ),
      pruneNotifications: database.prepare(`DELETE FROM everlive_notifications WHERE target = ? AND modified_at < ?`),
    };
  }

  cursor(target: string): number | undefined {
    return (this.statements.cursor.get(target) as { modified_at: number } | undefined)?.modified_at;
  }

  /**
   * The cursor a run starts from: set to `initial` if there is none yet (a first start that keeps
   * failing does not slide it), and moved back if it is later than the moment it was written or
   * than `now`. The poller never writes a cursor past the present; an earlier version did, when a
   * notification was dated in the future, and such a cursor skips everything before it.
   */
  cursorForRun(target: string, initial: number, now: number): { cursor: number; movedBackMilliseconds?: number } {
    const row = this.statements.cursorRow.get(target) as { modified_at: number; updated_at: number } | undefined;
    if (!row) {
      this.statements.putCursor.run(target, initial, now);
      return { cursor: initial };
    }
    const latestPossible = Math.min(row.updated_at, now);
    if (row.modified_at <= latestPossible) return { cursor: row.modified_at };
    this.statements.lowerCursor.run(latestPossible, now, target, latestPossible);
    return { cursor: latestPossible, movedBackMilliseconds: row.modified_at - latestPossible };
  }

  /** What was seen of these notifications before (absent = never seen). */
  seen(target: string, ids: readonly string[]): Map<string, SeenNotification> {
    const result = new Map<string, SeenNotification>();
    for (const id of ids) {
      const row = this.statements.notification.get(target, id) as { status: string | null } | undefined;
      if (!row) continue;
      const feedback = new Map<string, FeedbackCounts>();
      const rows = this.statements.feedback.all(target, id) as ({ platform_key: string } & FeedbackCounts)[];
      for (const { platform_key: platformKey, sent, failed, deactivated } of rows) {
        feedback.set(platformKey, { sent, failed, deactivated });
      }
      result.set(id, { status: row.status, feedback });
    }
    return result;
  }

  /** Returns the keys of malformed items counted now (those seen before add nothing). */
  recordPage(change: EverlivePageChange): Set<string> {
    const applied = [...change.counterIncrements];
    const newInvalidKeys = new Set<string>();
    this.database.transaction(() => {
      for (const item of change.invalidItems) {
        if (this.statements.insertInvalid.run(change.target, item.key, change.now).changes !== 1) continue;
        applied.push(item.increment);
        newInvalidKeys.add(item.key);
      }
      for (const notification of change.notifications) {
        this.statements.upsertNotification.run(change.target, notification.id, notification.status, change.now, notification.modifiedAt);
      }
      for (const item of change.feedback) {
        this.statements.upsertFeedback.run(change.target, item.id, item.platformKey, item.sent, item.failed, item.deactivated);
      }
      this.persistCounters(applied);
      if (change.cursor !== undefined) this.statements.putCursor.run(change.target, change.cursor, change.now);
    }).immediate();
    this.applyCounters(applied);
    return newInvalidKeys;
  }

  /**
   * Forgets an app's notifications not modified since `before`, never inside the window the next run
   * reads again (cursor − overlap): a notification forgotten there would count as new.
   */
  prune(target: string, before: number, overlap: number): number {
    const cursor = this.cursor(target);
    const bound = cursor === undefined ? before : Math.min(before, cursor - overlap);
    return this.database.transaction(() => {
      this.statements.pruneInvalid.run(target, bound);
      this.statements.pruneFeedback.run(target, bound);
      return this.statements.pruneNotifications.run(target, bound).changes;
    }).immediate();
  }
}
