import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseLabelKey } from '../../src/metrics/totals.js';
import { CommitCutter } from '../support/commit-cutter.js';
import { Harness } from '../support/harness.js';
import { PostgresCluster, postgresUnavailable } from '../support/postgres.js';
import { sumOf, type Sample } from '../support/prometheus-text.js';
import { waitFor } from '../support/wait.js';

const target = 'orders-target';
const replicaId = 'lost-commit';
const plan = { notReadyMilliseconds: 2_000, enqueuedMilliseconds: 500, processingMilliseconds: 4_000, finalState: 'Completed' as const, outcomes: { ApnsOutcomeCounts: { Success: 40, WrongToken: 2 } } };

/** This replica's counter totals as the database holds them: [family, labels, value]. */
async function databaseTotals(url: string): Promise<[string, Record<string, string>, number][]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ family: string; labels: string; value: number }>('SELECT family, labels, value FROM counter_totals WHERE replica_id = $1 ORDER BY family, labels', [replicaId]);
    return rows.map((row) => [row.family, { ...parseLabelKey(row.labels) }, row.value]);
  } finally {
    await client.end();
  }
}

async function storedIds(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ notification_id: string }>('SELECT notification_id FROM azure_messages ORDER BY notification_id');
    return rows.map((row) => row.notification_id);
  } finally {
    await client.end();
  }
}

/** Every total the database holds for this replica, as the replica's /metrics shows it. */
function shown(samples: readonly Sample[], totals: [string, Record<string, string>, number][]): [string, Record<string, string>, number][] {
  return totals.map(([family, labels]) => [family, labels, sumOf(samples, family, labels)]);
}

/** Lets the storage check (every 5 s of the exporter's clock) and the claim (every 5 s of real time) run until `done`. */
async function settle(harness: Harness, description: string, done: () => Promise<boolean>): Promise<void> {
  await waitFor(
    async () => {
      await harness.advance(5_000);
      return (await done()) ? true : undefined;
    },
    { description, timeoutMilliseconds: 30_000, intervalMilliseconds: 500 },
  );
}

/**
 * A COMMIT that reached PostgreSQL but whose answer was lost (the connection broke in between): the
 * transaction is durable, the replica was told it failed. A real proxy between the exporter and the
 * real server forwards the COMMIT, waits for its answer, drops it and cuts the connection. The
 * replica must then re-read its totals (nothing counted twice, nothing lost) and poll the IDs
 * whose intake committed although the sender never got its 202 (PostgresStorage.resync).
 */
describe.skipIf(postgresUnavailable())('exporter on PostgreSQL when the answer to a COMMIT is lost', () => {
  let cluster: PostgresCluster;
  let cutter: CommitCutter;
  let harness: Harness | undefined;
  let databases = 0;
  beforeAll(async () => {
    cluster = await PostgresCluster.start();
    cutter = await CommitCutter.start(cluster.port);
  }, 120_000);
  afterAll(async () => {
    await cutter?.close();
    cluster?.stop();
  });
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  const start = async () => {
    databases += 1;
    const url = cluster.createDatabase(`lost_${databases}`);
    harness = await Harness.start({ postgresUrl: cutter.proxied(url), replicaId });
    return { harness, url };
  };

  it('an intake whose COMMIT answer was lost: the sender gets no 202, the IDs are polled all the same, and the totals are the database\'s', async () => {
    const { harness, url } = await start();
    for (const id of ['before', 'lost-1', 'lost-2']) harness.simulator.createMessage('orders', plan, id);
    expect((await harness.post({ target, notificationId: 'before' })).status).toBe(202);

    const cut = cutter.loseNextCommitOf('lost-1');
    const answer = await harness.post([
      { target, notificationId: 'lost-1' },
      { target, notificationId: 'lost-2' },
    ]);
    await cut;
    // Never a 202 for a commit the exporter could not see; yet the database has both IDs.
    expect(answer.status).toBe(503);
    expect(await storedIds(url)).toEqual(['before', 'lost-1', 'lost-2']);

    await settle(harness, 'every message to finish, the two the sender was not told about included', async () => {
      const samples = await harness.scrape();
      return sumOf(samples, 'push_notification_messages_total', { target, state: 'Completed' }) === 3 && sumOf(samples, 'push_notification_tracked_messages', { target }) === 0;
    });
    expect(harness.simulator.requestsFor('lost-1').length).toBeGreaterThan(0);
    expect(harness.simulator.requestsFor('lost-2').length).toBeGreaterThan(0);

    const samples = await harness.scrape();
    const totals = await databaseTotals(url);
    expect(shown(samples, totals)).toEqual(totals);
    expect(sumOf(samples, 'push_notification_intake_notifications_total', { target, result: 'accepted' })).toBe(3);
    expect(sumOf(samples, 'push_notification_outcomes_total', { target, outcome: 'Success' })).toBe(120);
    expect(sumOf(samples, 'push_notification_outcomes_total', { target, outcome: 'WrongToken' })).toBe(6);

    // The sender sends them again (it got no 202): they are duplicates now, not tracked twice.
    const again = await harness.post([
      { target, notificationId: 'lost-1' },
      { target, notificationId: 'lost-2' },
    ]);
    expect(again).toMatchObject({ status: 202, json: { accepted: 0, duplicates: 2 } });
  }, 60_000);

  it("a poll answer whose COMMIT answer was lost: counted once, as the database has it, and the message finishes", async () => {
    const { harness, url } = await start();
    for (const id of ['p-1', 'p-2']) harness.simulator.createMessage('orders', plan, id);
    expect((await harness.post([{ target, notificationId: 'p-1' }, { target, notificationId: 'p-2' }])).status).toBe(202);

    // The first poll answer with counts for p-1 is committed, and the replica hears nothing back.
    let lost = false;
    void cutter.loseNextCommitOf('p-1').then(() => {
      lost = true;
    });
    await waitFor(
      async () => {
        await harness.advance(1_000);
        return lost ? true : undefined;
      },
      { description: 'a COMMIT of a poll answer of p-1', timeoutMilliseconds: 30_000, intervalMilliseconds: 100 },
    );

    await settle(harness, 'both messages to finish', async () => {
      const samples = await harness.scrape();
      return sumOf(samples, 'push_notification_messages_total', { target, state: 'Completed' }) === 2 && sumOf(samples, 'push_notification_tracked_messages', { target }) === 0;
    });
    const samples = await harness.scrape();
    const totals = await databaseTotals(url);
    expect(shown(samples, totals)).toEqual(totals);
    expect(sumOf(samples, 'push_notification_outcomes_total', { target, outcome: 'Success' })).toBe(80);
    expect(sumOf(samples, 'push_notification_outcomes_total', { target, outcome: 'WrongToken' })).toBe(4);
    expect(sumOf(samples, 'push_notification_messages_total', { target })).toBe(2);
  }, 60_000);
});
