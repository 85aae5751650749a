import type Database from 'better-sqlite3';
import { attributeIntakeCountsToTargets } from './intake-counter-migration.js';

/** SQL to run, or a step that needs code (it runs inside the migration's transaction). */
export type Migration = string | ((database: Database.Database) => void);

/**
 * The state file's schema. `PRAGMA user_version` says which migrations have run; a file from a newer
 * version is refused rather than guessed at.
 */
export const migrations: readonly Migration[] = [
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

  -- Last counts seen per message, by outcome name (known names canonical: store.ts keepLargest), so only growth is counted.
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
  `
  -- Everlive: each notification seen (counted once in messages_total), its last feedback per
  -- platform (so only growth is counted), and the read cursor per app.
  CREATE TABLE everlive_notifications (
    target TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    status TEXT,
    first_seen_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    PRIMARY KEY (target, notification_id)
  ) WITHOUT ROWID;
  CREATE INDEX everlive_notifications_modified_at ON everlive_notifications (modified_at);

  CREATE TABLE everlive_feedback (
    target TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    platform_key TEXT NOT NULL,
    sent INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    deactivated INTEGER NOT NULL,
    PRIMARY KEY (target, notification_id, platform_key)
  ) WITHOUT ROWID;

  -- Malformed items already counted (by Id, or a hash of the item), so a re-read counts nothing.
  CREATE TABLE everlive_invalid_items (
    target TEXT NOT NULL,
    item_key TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (target, item_key)
  ) WITHOUT ROWID;

  CREATE TABLE everlive_cursors (
    target TEXT PRIMARY KEY,
    modified_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  -- PNS error details: the blob to fetch once a message is terminal (a pre-signed URL: never shown),
  -- and the records read from it, each counted once. Device tokens are stored only redacted.
  CREATE TABLE azure_error_details (
    target TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_fetch_at INTEGER,
    first_seen_at INTEGER NOT NULL,
    last_status TEXT,
    PRIMARY KEY (target, notification_id)
  ) WITHOUT ROWID;

  CREATE TABLE azure_pns_errors (
    target TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    record_key TEXT NOT NULL,
    feedback_time TEXT,
    platform TEXT NOT NULL,
    error TEXT NOT NULL,
    pns_handle TEXT,
    new_pns_handle TEXT,
    registration_id TEXT,
    installation_id TEXT,
    PRIMARY KEY (target, notification_id, record_key)
  ) WITHOUT ROWID;

  CREATE INDEX azure_messages_accepted_at ON azure_messages (accepted_at);
  `,
  `
  -- Scheduled sends (issue 11): their telemetry may not exist until the scheduled time, so they are
  -- bounded by scheduledMaxAge instead of notFoundDeadline and maxAge, across restarts too.
  ALTER TABLE azure_messages ADD COLUMN scheduled INTEGER NOT NULL DEFAULT 0;
  `,
  // The intake counter gains a target label (issue 11); counts from before are attributed to targets.
  attributeIntakeCountsToTargets,
  `
  -- Azure Monitor platform metrics (issue 14): the last minute counted per target and metric,
  -- written in the same transaction as the counter totals it added, so no minute counts twice.
  CREATE TABLE azure_monitor_cursors (
    target TEXT NOT NULL,
    metric TEXT NOT NULL,
    last_minute INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (target, metric)
  ) WITHOUT ROWID;
  `,
  `
  -- A message's last-seen counts as one JSON object in its own row ({"platform": {"outcome": count}}),
  -- merged in by each answer (json_patch) with the rest of the row: one write per answer instead of
  -- one row per outcome (issue 15). Rows written into azure_outcome_counts by earlier versions stay
  -- there and are read beside it (the larger count wins) until their messages are pruned.
  ALTER TABLE azure_messages ADD COLUMN outcome_counts TEXT;
  `,
  `
  -- Every message's last-seen counts, wherever they are kept (the JSON column, or rows an earlier
  -- version wrote): what lookups, resuming and --migrate-state read. A (message, platform, outcome)
  -- may appear in both; readers keep the larger count.
  CREATE VIEW azure_last_counts AS
    SELECT m.target, m.notification_id, m.finished_at, p.key AS platform, o.key AS outcome, o.value AS count
      FROM azure_messages m, json_each(m.outcome_counts) p, json_each(p.value) o
    UNION ALL
    SELECT c.target, c.notification_id, m.finished_at, c.platform, c.outcome, c.count
      FROM azure_outcome_counts c JOIN azure_messages m ON m.target = c.target AND m.notification_id = c.notification_id;
  `,
];
