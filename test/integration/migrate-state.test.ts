import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrateSqliteToPostgres } from '../../src/tracking/migrate-state.js';
import { Harness } from '../support/harness.js';
import { PostgresCluster, postgresUnavailable } from '../support/postgres.js';
import { groupBy, sumOf } from '../support/prometheus-text.js';

const target = 'orders-target';

/**
 * SQLite → PostgreSQL: counters carry on (no reset, nothing twice) and the messages still tracked
 * are taken up by the replica on PostgreSQL and finish with exact totals.
 */
describe.skipIf(postgresUnavailable())('migrating a SQLite state file to PostgreSQL', () => {
  let cluster: PostgresCluster;
  let harness: Harness | undefined;
  beforeAll(async () => {
    cluster = await PostgresCluster.start();
  }, 120_000);
  afterAll(() => cluster?.stop());
  afterEach(async () => harness?.close());

  it('carries counter totals and tracked messages over, and refuses a database that already holds state', async () => {
    harness = await Harness.start();
    const { simulator } = harness;
    const quick = simulator.createMessage('orders', { notReadyMilliseconds: 1_000, enqueuedMilliseconds: 100, processingMilliseconds: 500, finalState: 'Completed', outcomes: { ApnsOutcomeCounts: { Success: 30, WrongToken: 2 } } });
    const slow = simulator.createMessage('orders', { notReadyMilliseconds: 1_000, enqueuedMilliseconds: 100, processingMilliseconds: 120_000, finalState: 'Completed', outcomes: { FcmV1OutcomeCounts: { Success: 500, InvalidToken: 4 } } });
    expect((await harness.post([{ target, notificationId: quick }, { target, notificationId: slow }])).status).toBe(202);
    await harness.advance(40_000);
    const before = await harness.scrape();
    expect(sumOf(before, 'push_notification_messages_total', { target })).toBe(1);
    expect(sumOf(before, 'push_notification_tracked_messages', { target })).toBe(1);
    await harness.exporter.stop();

    const url = cluster.createDatabase('migrated');
    const summary = await migrateSqliteToPostgres(harness.statePath, { connectionString: url, replicaId: 'replica-1', poolSize: 4 });
    expect(summary.rows).toMatchObject({ azure_messages: 2 });
    await expect(migrateSqliteToPostgres(harness.statePath, { connectionString: url, replicaId: 'replica-1', poolSize: 4 })).rejects.toThrow(/already holds state/);

    harness.usePostgres(url, 'replica-1');
    await harness.startExporter();
    const after = await harness.scrape();
    // No reset: the replica exports what the file had counted.
    expect(sumOf(after, 'push_notification_outcomes_total', { target })).toBe(sumOf(before, 'push_notification_outcomes_total', { target }));
    expect(sumOf(after, 'push_notification_intake_notifications_total', { target, result: 'accepted' })).toBe(2);
    expect(sumOf(after, 'push_notification_tracked_messages', { target })).toBe(1);
    await harness.advance(200_000, 5_000);
    const done = await harness.scrape();
    expect(groupBy(done, 'push_notification_outcomes_total', ['platform', 'outcome'], { target })).toEqual(simulator.truth('orders').outcomes);
    expect(sumOf(done, 'push_notification_messages_total', { target })).toBe(2);
    expect(sumOf(done, 'push_notification_tracked_messages', { target })).toBe(0);
    expect(cluster.sql(`SELECT DISTINCT replica_id FROM counter_totals`, url)).toBe('replica-1');
  });
});
