import type Database from 'better-sqlite3';
import { metricNames, sourceLabels } from '../../metrics/names.js';
import { labelKey, parseLabelKey, type LabelSet } from '../../metrics/totals.js';

/**
 * Upgrades state files written before the intake counter had a `target` label: their
 * `{result="…"}` totals must not be lost, and after the upgrade the per-target invariant
 * accepted = Σ messages_total + Σ tracking_expired_total + Σ tracked_messages must hold.
 *
 * Which target an old accepted item belonged to was not recorded, but every accepted ID ends in
 * exactly one of those three places, which do carry the target. So the old accepted total is split
 * by them: per target, its terminal and expired counts plus the messages still tracked. Whatever the
 * split does not explain (it should be nothing) stays under `target=""`, so the sum over targets is
 * still the old total. Old duplicate and rejected counts cannot be split: they go to `target=""`.
 */
export function attributeIntakeCountsToTargets(database: Database.Database): void {
  const family = metricNames.intakeNotifications;
  const legacy = readCounters(database, [family]).filter((row) => row.labels.target === undefined);
  if (legacy.length === 0) return;
  const add = database.prepare(
    `INSERT INTO counter_totals (family, labels, value) VALUES (?, ?, ?)
     ON CONFLICT (family, labels) DO UPDATE SET value = value + excluded.value`,
  );
  const remove = database.prepare(`DELETE FROM counter_totals WHERE family = ? AND labels = ?`);
  for (const row of legacy) {
    remove.run(family, row.key);
    const result = row.labels.result ?? 'accepted';
    const shares = result === 'accepted' ? splitAccepted(database, row.value) : new Map([['', row.value]]);
    for (const [target, value] of shares) {
      if (value > 0) add.run(family, labelKey({ result, target }), value);
    }
  }
}

/** target → share of `total`, from where accepted IDs end up; the unexplained rest under ''. */
function splitAccepted(database: Database.Database, total: number): Map<string, number> {
  const shares = new Map<string, number>();
  const addShare = (target: string, value: number) => shares.set(target, (shares.get(target) ?? 0) + value);
  for (const row of readCounters(database, [metricNames.messages, metricNames.trackingExpired])) {
    if (row.labels.source === sourceLabels.azureNotificationHubs && row.labels.target) addShare(row.labels.target, row.value);
  }
  const tracked = database
    .prepare(`SELECT target, COUNT(*) AS count FROM azure_messages WHERE finished_at IS NULL GROUP BY target`)
    .all() as { target: string; count: number }[];
  for (const { target, count } of tracked) addShare(target, count);
  const explained = [...shares.values()].reduce((sum, value) => sum + value, 0);
  // More ended than was ever accepted cannot be split honestly: keep the old total whole.
  if (explained > total) return new Map([['', total]]);
  addShare('', total - explained);
  return shares;
}

function readCounters(database: Database.Database, families: readonly string[]): { key: string; labels: LabelSet; value: number }[] {
  const rows = database
    .prepare(`SELECT labels, value FROM counter_totals WHERE family IN (${families.map(() => '?').join(', ')})`)
    .all(...families) as { labels: string; value: number }[];
  return rows.map((row) => ({ key: row.labels, labels: parseLabelKey(row.labels), value: row.value }));
}
