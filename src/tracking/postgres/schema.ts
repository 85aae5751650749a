import type { Queryable } from './database.js';

/**
 * The database's schema, in order. `pne_schema_version` says how many have run; a database from a
 * newer version is refused rather than guessed at. Times are milliseconds since the epoch (bigint),
 * as in the SQLite state file, except the replicas' leases, which use the database's own clock so
 * that replicas with different clocks agree on who is alive.
 */
export const postgresMigrations: readonly string[] = [
  `
  CREATE TABLE azure_messages (
    target text NOT NULL,
    notification_id text NOT NULL,
    state text NOT NULL,
    reported_state text,
    scheduled boolean NOT NULL DEFAULT false,
    accepted_at bigint NOT NULL,
    next_poll_at bigint,
    attempts integer NOT NULL DEFAULT 0,
    not_found_count integer NOT NULL DEFAULT 0,
    last_status text,
    last_polled_at bigint,
    first_found_at bigint,
    enqueue_time double precision,
    start_time double precision,
    end_time double precision,
    finished_at bigint,
    finish_reason text,
    -- The replica polling it now (NULL: nobody, up for the taking) and a revision that every claim
    -- and every poll answer moves on: a commit from a stale copy finds a different revision.
    owner text,
    revision integer NOT NULL DEFAULT 0,
    PRIMARY KEY (target, notification_id)
  );
  CREATE INDEX azure_messages_finished_at ON azure_messages (finished_at);
  CREATE INDEX azure_messages_accepted_at ON azure_messages (accepted_at);
  CREATE INDEX azure_messages_active_owner ON azure_messages (owner) WHERE finished_at IS NULL;

  CREATE TABLE azure_outcome_counts (
    target text NOT NULL,
    notification_id text NOT NULL,
    platform text NOT NULL,
    outcome text NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (target, notification_id, platform, outcome)
  );

  -- Counter and histogram totals per replica: each replica exports what it counted itself.
  CREATE TABLE counter_totals (
    replica_id text NOT NULL,
    family text NOT NULL,
    labels text NOT NULL,
    value double precision NOT NULL,
    PRIMARY KEY (replica_id, family, labels)
  );

  CREATE TABLE histogram_totals (
    replica_id text NOT NULL,
    family text NOT NULL,
    labels text NOT NULL,
    bounds text NOT NULL,
    bucket_counts text NOT NULL,
    sum double precision NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (replica_id, family, labels)
  );

  CREATE TABLE everlive_notifications (
    target text NOT NULL,
    notification_id text NOT NULL,
    status text,
    first_seen_at bigint NOT NULL,
    modified_at bigint NOT NULL,
    PRIMARY KEY (target, notification_id)
  );
  CREATE INDEX everlive_notifications_modified_at ON everlive_notifications (target, modified_at);

  CREATE TABLE everlive_feedback (
    target text NOT NULL,
    notification_id text NOT NULL,
    platform_key text NOT NULL,
    sent bigint NOT NULL,
    failed bigint NOT NULL,
    deactivated bigint NOT NULL,
    PRIMARY KEY (target, notification_id, platform_key)
  );

  CREATE TABLE everlive_invalid_items (
    target text NOT NULL,
    item_key text NOT NULL,
    seen_at bigint NOT NULL,
    PRIMARY KEY (target, item_key)
  );

  CREATE TABLE everlive_cursors (
    target text PRIMARY KEY,
    modified_at bigint NOT NULL,
    updated_at bigint NOT NULL
  );

  CREATE TABLE azure_error_details (
    target text NOT NULL,
    notification_id text NOT NULL,
    uri text NOT NULL,
    state text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_fetch_at bigint,
    first_seen_at bigint NOT NULL,
    last_status text,
    owner text,
    PRIMARY KEY (target, notification_id)
  );
  CREATE INDEX azure_error_details_pending ON azure_error_details (owner) WHERE state = 'pending';

  CREATE TABLE azure_pns_errors (
    target text NOT NULL,
    notification_id text NOT NULL,
    record_key text NOT NULL,
    feedback_time text,
    platform text NOT NULL,
    error text NOT NULL,
    pns_handle text,
    new_pns_handle text,
    registration_id text,
    installation_id text,
    PRIMARY KEY (target, notification_id, record_key)
  );

  -- Replicas alive: a replica renews its lease on the database's clock; one whose lease ran out
  -- is gone, and its work is taken over.
  CREATE TABLE replicas (
    replica_id text PRIMARY KEY,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    lease_until timestamptz NOT NULL
  );

  -- Work done by one replica at a time that is not a row of its own (an Everlive app).
  CREATE TABLE work_owners (
    resource text PRIMARY KEY,
    owner text NOT NULL
  );
  `,
  `
  -- Azure Monitor platform metrics: the last minute counted per target and metric, written in the
  -- same transaction as the counter totals it added, so no minute counts twice.
  CREATE TABLE azure_monitor_cursors (
    target text NOT NULL,
    metric text NOT NULL,
    last_minute bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (target, metric)
  );
  `,
];

/** Any fixed number: the key of the advisory lock that serialises migrations of replicas starting together. */
const migrationLockKey = 7_301_120_431;

/**
 * Creates and migrates the schema under an advisory lock held for the transaction
 * (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS): replicas that
 * start together wait for each other instead of racing to create the same tables.
 */
export async function migrate(client: Queryable): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [migrationLockKey]);
  await client.query('CREATE TABLE IF NOT EXISTS pne_schema_version (version integer NOT NULL)');
  const { rows } = await client.query<{ version: number }>('SELECT version FROM pne_schema_version');
  const version = rows[0]?.version ?? 0;
  if (version > postgresMigrations.length) {
    throw new Error(
      `the database has schema version ${version}, newer than this exporter understands (${postgresMigrations.length}); run the newer version`,
    );
  }
  for (let next = version; next < postgresMigrations.length; next += 1) await client.query(postgresMigrations[next] as string);
  if (rows.length === 0) await client.query('INSERT INTO pne_schema_version (version) VALUES ($1)', [postgresMigrations.length]);
  else await client.query('UPDATE pne_schema_version SET version = $1', [postgresMigrations.length]);
}
