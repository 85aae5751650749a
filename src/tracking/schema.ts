/**
 * The state file's schema. `PRAGMA user_version` says which migrations have run; a file from a newer
 * version is refused rather than guessed at.
 */
export const migrations: readonly string[] = [
  `
  CREATE TABLE azure_messages (
    target TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reported_state TEXT,
    accepted_at INTEGER NOT NULL,
    next_poll_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_found_count INTEGER NOT NULL DEFAULT 0,
    last_status TEXT,
    last_polled_at INTEGER,
    first_found_at INTEGER,
    enqueue_time REAL,
    start_time REAL,
    end_time REAL,
    finished_at INTEGER,
    finish_reason TEXT,
    PRIMARY KEY (target, notification_id)
  ) WITHOUT ROWID;
  CREATE INDEX azure_messages_finished_at ON azure_messages (finished_at);

  -- Last counts seen per message, by upstream outcome name, so only growth is counted.
  CREATE TABLE azure_outcome_counts (
    target TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (target, notification_id, platform, outcome)
  ) WITHOUT ROWID;

  -- Durable counter totals: loaded at start so counters never reset.
  CREATE TABLE counter_totals (
    family TEXT NOT NULL,
    labels TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (family, labels)
  ) WITHOUT ROWID;

  CREATE TABLE histogram_totals (
    family TEXT NOT NULL,
    labels TEXT NOT NULL,
    bounds TEXT NOT NULL,
    bucket_counts TEXT NOT NULL,
    sum REAL NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (family, labels)
  ) WITHOUT ROWID;
  `,
];
