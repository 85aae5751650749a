import type { CounterIncrement } from '../../metrics/totals.js';
import { mergeIncrements, type TotalsMirror } from '../counting.js';
import { WorkLostError, type EverlivePageChange, type EverliveStorage, type FeedbackCounts, type SeenNotification } from '../storage.js';
import type { Database, Queryable } from './database.js';
import { millis } from './messages.js';
import type { PostgresTotals } from './totals.js';
import type { WorkOwners } from './work-owners.js';

/**
 * Everlive in PostgreSQL: one replica reads an app at a time (its row in work_owners), and every
 * page it writes checks, in the page's transaction, that the app is still its own.
 */
export class PostgresEverlive implements EverliveStorage {
  constructor(
    private readonly database: Database,
    private readonly replicaId: string,
    private readonly totals: PostgresTotals,
    private readonly mirror: TotalsMirror,
    private readonly owners: WorkOwners,
  ) {}

  async claimApp(target: string): Promise<boolean> {
    return (await this.owners.claim([everliveResource(target)])).size === 1;
  }

  async cursor(target: string): Promise<number | undefined> {
    const { rows } = await this.database.query<{ modified_at: string }>(`SELECT modified_at FROM everlive_cursors WHERE target = $1`, [target]);
    return rows[0] === undefined ? undefined : Number(rows[0].modified_at);
  }

  async cursorForRun(target: string, initial: number, now: number): Promise<{ cursor: number; movedBackMilliseconds?: number }> {
    const { rows } = await this.database.query<{ modified_at: string; updated_at: string }>(`SELECT modified_at, updated_at FROM everlive_cursors WHERE target = $1`, [target]);
    const row = rows[0];
    if (!row) {
      await this.database.transaction((client) => this.putCursor(client, target, initial, now));
      return { cursor: initial };
    }
    const modifiedAt = Number(row.modified_at);
    const latestPossible = Math.min(Number(row.updated_at), now);
    if (modifiedAt <= latestPossible) return { cursor: modifiedAt };
    await this.database.query(`UPDATE everlive_cursors SET modified_at = $1, updated_at = $2 WHERE target = $3 AND modified_at > $1`, [millis(latestPossible), millis(now), target]);
    return { cursor: latestPossible, movedBackMilliseconds: modifiedAt - latestPossible };
  }

  async seen(target: string, ids: readonly string[]): Promise<Map<string, SeenNotification>> {
    const result = new Map<string, SeenNotification>();
    if (ids.length === 0) return result;
    const notifications = await this.database.query<{ notification_id: string; status: string | null }>(
      `SELECT notification_id, status FROM everlive_notifications WHERE target = $1 AND notification_id = ANY($2::text[])`,
      [target, ids],
    );
    for (const row of notifications.rows) result.set(row.notification_id, { status: row.status, feedback: new Map() });
    const feedback = await this.database.query<{ notification_id: string; platform_key: string; sent: string; failed: string; deactivated: string }>(
      `SELECT notification_id, platform_key, sent, failed, deactivated FROM everlive_feedback WHERE target = $1 AND notification_id = ANY($2::text[])`,
      [target, ids],
    );
    for (const row of feedback.rows) {
      const counts: FeedbackCounts = { sent: Number(row.sent), failed: Number(row.failed), deactivated: Number(row.deactivated) };
      result.get(row.notification_id)?.feedback.set(row.platform_key, counts);
    }
    return result;
  }

  async recordPage(change: EverlivePageChange): Promise<Set<string>> {
    const { applied, newInvalidKeys } = await this.database.transaction(async (client) => {
      // Locks the app's row: a takeover waits for this page, and this page sees a takeover that came first.
      const owner = await client.query(`SELECT 1 FROM work_owners WHERE resource = $1 AND owner = $2 FOR UPDATE`, [everliveResource(change.target), this.replicaId]);
      if (owner.rowCount !== 1) throw new WorkLostError(`Everlive app ${change.target} is read by another replica now`);
      const applied: CounterIncrement[] = [...change.counterIncrements];
      const newInvalidKeys = new Set<string>();
      for (const item of change.invalidItems) {
        const inserted = await client.query(`INSERT INTO everlive_invalid_items (target, item_key, seen_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [change.target, item.key, millis(change.now)]);
        if (inserted.rowCount !== 1) continue;
        applied.push(item.increment);
        newInvalidKeys.add(item.key);
      }
      if (change.notifications.length > 0) {
        await client.query(
          `INSERT INTO everlive_notifications (target, notification_id, status, first_seen_at, modified_at)
           SELECT $1, id, status, $2, modified_at FROM unnest($3::text[], $4::text[], $5::bigint[]) AS u(id, status, modified_at)
           ON CONFLICT (target, notification_id) DO UPDATE SET status = excluded.status, modified_at = excluded.modified_at`,
          [change.target, millis(change.now), change.notifications.map((n) => n.id), change.notifications.map((n) => n.status), change.notifications.map((n) => millis(n.modifiedAt))],
        );
      }
      if (change.feedback.length > 0) {
        await client.query(
          `INSERT INTO everlive_feedback (target, notification_id, platform_key, sent, failed, deactivated)
           SELECT $1, id, platform_key, sent, failed, deactivated
             FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) AS u(id, platform_key, sent, failed, deactivated)
           ON CONFLICT (target, notification_id, platform_key) DO UPDATE SET
             sent = excluded.sent, failed = excluded.failed, deactivated = excluded.deactivated`,
          [
            change.target,
            change.feedback.map((f) => f.id),
            change.feedback.map((f) => f.platformKey),
            change.feedback.map((f) => f.sent),
            change.feedback.map((f) => f.failed),
            change.feedback.map((f) => f.deactivated),
          ],
        );
      }
      await this.totals.persistCounters(client, mergeIncrements(applied));
      if (change.cursor !== undefined) await this.putCursor(client, change.target, change.cursor, change.now);
      return { applied, newInvalidKeys };
    });
    this.mirror.applyCounters(applied);
    return newInvalidKeys;
  }

  async prune(target: string, before: number, overlap: number): Promise<number> {
    const cursor = await this.cursor(target);
    const bound = cursor === undefined ? before : Math.min(before, cursor - overlap);
    return this.database.transaction(async (client) => {
      await client.query(`DELETE FROM everlive_invalid_items WHERE target = $1 AND seen_at < $2`, [target, millis(bound)]);
      await client.query(
        `DELETE FROM everlive_feedback f USING everlive_notifications n
          WHERE f.target = n.target AND f.notification_id = n.notification_id AND n.target = $1 AND n.modified_at < $2`,
        [target, millis(bound)],
      );
      const result = await client.query(`DELETE FROM everlive_notifications WHERE target = $1 AND modified_at < $2`, [target, millis(bound)]);
      return result.rowCount ?? 0;
    });
  }

  private async putCursor(client: Queryable, target: string, modifiedAt: number, now: number): Promise<void> {
    await client.query(
      `INSERT INTO everlive_cursors (target, modified_at, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (target) DO UPDATE SET modified_at = GREATEST(everlive_cursors.modified_at, excluded.modified_at), updated_at = excluded.updated_at`,
      [target, millis(modifiedAt), millis(now)],
    );
  }
}

/** An app is read by its owner, which also reports its shared gauges (see PostgresStorage.reportingTargets). */
export function everliveResource(target: string): string {
  return `everlive:${target}`;
}
