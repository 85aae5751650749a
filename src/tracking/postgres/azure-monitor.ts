import { mergeIncrements, type TotalsMirror } from '../counting.js';
import { WorkLostError, type AzureMonitorStorage, type CountedMinutes } from '../storage.js';
import type { Database } from './database.js';
import { millis } from './messages.js';
import type { PostgresTotals } from './totals.js';
import type { WorkOwners } from './work-owners.js';

/**
 * Azure Monitor in PostgreSQL: the metrics of a hub are hub-wide, so one replica reads them at a
 * time (its row in work_owners, as an Everlive app), and every commit checks in its own
 * transaction that the hub is still its own: two replicas never count the same minute.
 */
export class PostgresAzureMonitor implements AzureMonitorStorage {
  constructor(
    private readonly database: Database,
    private readonly replicaId: string,
    private readonly totals: PostgresTotals,
    private readonly mirror: TotalsMirror,
    private readonly owners: WorkOwners,
  ) {}

  async claimTarget(target: string): Promise<boolean> {
    return (await this.owners.claim([azureMonitorResource(target)])).size === 1;
  }

  async cursors(target: string): Promise<Map<string, number>> {
    const { rows } = await this.database.query<{ metric: string; last_minute: string }>(
      `SELECT metric, last_minute FROM azure_monitor_cursors WHERE target = $1`,
      [target],
    );
    return new Map(rows.map((row) => [row.metric, Number(row.last_minute)]));
  }

  async commitMinutes(minutes: CountedMinutes): Promise<void> {
    const increments = mergeIncrements([...minutes.increments]);
    await this.database.transaction(async (client) => {
      // Locks the hub's row: a takeover waits for this commit, and this commit sees a takeover that came first.
      const owner = await client.query(`SELECT 1 FROM work_owners WHERE resource = $1 AND owner = $2 FOR UPDATE`, [azureMonitorResource(minutes.target), this.replicaId]);
      if (owner.rowCount !== 1) throw new WorkLostError(`Azure Monitor metrics of ${minutes.target} are read by another replica now`);
      const metrics = [...minutes.cursors.keys()];
      if (metrics.length > 0) {
        // A cursor only moves forward, whatever a caller asks.
        await client.query(
          `INSERT INTO azure_monitor_cursors (target, metric, last_minute, updated_at)
           SELECT $1, metric, last_minute, $4 FROM unnest($2::text[], $3::bigint[]) AS u(metric, last_minute)
           ON CONFLICT (target, metric) DO UPDATE SET
             last_minute = GREATEST(azure_monitor_cursors.last_minute, excluded.last_minute), updated_at = excluded.updated_at`,
          [minutes.target, metrics, metrics.map((metric) => millis(minutes.cursors.get(metric) as number)), millis(minutes.now)],
        );
      }
      await this.totals.persistCounters(client, increments);
    });
    this.mirror.applyCounters(increments);
  }
}

/** A hub's platform metrics are read by its owner, which also reports their shared gauges. */
export function azureMonitorResource(target: string): string {
  return `azure_monitor:${target}`;
}
