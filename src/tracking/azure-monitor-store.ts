import type Database from 'better-sqlite3';
import type { CounterIncrement } from '../metrics/totals.js';

/** Minutes of Azure Monitor metrics counted for one target, with the counts they add. */
export interface CountedMinutes {
  target: string;
  now: number;
  /** Added to the counter totals. */
  increments: readonly CounterIncrement[];
  /** Per metric, the start (epoch milliseconds) of the last minute now counted. */
  cursors: ReadonlyMap<string, number>;
}

/**
 * The Azure Monitor part of the state: per target and metric, the last minute counted. The only
 * write is commitMinutes(), which stores the new cursors and the counter totals in one
 * transaction: a crash before it commits counts the minutes again from the old cursor (nothing was
 * added), a crash after it counts nothing twice.
 */
export interface AzureMonitorCursorStore {
  /** The last minute counted per metric of a target (absent: never counted). */
  cursors(target: string): Map<string, number>;
  commitMinutes(minutes: CountedMinutes): void;
}

export class SqliteAzureMonitorCursorStore implements AzureMonitorCursorStore {
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
