import type Database from 'better-sqlite3';
import type { CounterIncrement } from '../../metrics/totals.js';
import type { CountedMinutes } from '../storage.js';

/** The Azure Monitor part of the state file (see AzureMonitorStorage). Synchronous: SqliteStorage wraps it. */
export class SqliteAzureMonitor {
  private readonly statements;

  constructor(
    private readonly database: Database.Database,
    private readonly persistCounters: (increments: readonly CounterIncrement[]) => void,
    private readonly applyCounters: (increments: readonly CounterIncrement[]) => void,
  ) {
    this.statements = {
      cursors: database.prepare(`SELECT metric, last_minute FROM azure_monitor_cursors WHERE target = ?`),
      // A cursor only moves forward, whatever a caller asks.
      putCursor: database.prepare(
        `INSERT INTO azure_monitor_cursors (target, metric, last_minute, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (target, metric) DO UPDATE SET last_minute = max(last_minute, excluded.last_minute), updated_at = excluded.updated_at`,
      ),
    };
  }

  cursors(target: string): Map<string, number> {
    const rows = this.statements.cursors.all(target) as { metric: string; last_minute: number }[];
    return new Map(rows.map((row) => [row.metric, row.last_minute]));
  }

  commitMinutes(minutes: CountedMinutes): void {
    this.database.transaction(() => {
      for (const [metric, minute] of minutes.cursors) this.statements.putCursor.run(minutes.target, metric, minute, minutes.now);
      this.persistCounters(minutes.increments);
    }).immediate();
    this.applyCounters(minutes.increments);
  }
}
