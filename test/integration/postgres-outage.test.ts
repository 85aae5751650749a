import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Harness } from '../support/harness.js';
import { PostgresCluster, postgresUnavailable } from '../support/postgres.js';
import { sumOf } from '../support/prometheus-text.js';
import { waitFor } from '../support/wait.js';

const target = 'orders-target';
const plan = { notReadyMilliseconds: 2_000, enqueuedMilliseconds: 500, processingMilliseconds: 20_000, finalState: 'Completed' as const, outcomes: { ApnsOutcomeCounts: { Success: 40, WrongToken: 2 } } };

async function ready(harness: Harness): Promise<number> {
  const response = await request(`${harness.exporter.url}/-/ready`);
  await response.body.dump();
  return response.statusCode;
}

/**
 * PostgreSQL unreachable or restarting: intake answers 503 (never 202, never a crash), /-/ready goes
 * 503, polling waits; when the database is back, all resume by themselves and the counts are exact.
 */
describe.skipIf(postgresUnavailable())('exporter on PostgreSQL while the database goes away and comes back', () => {
  let cluster: PostgresCluster;
  let harness: Harness | undefined;
  beforeAll(async () => {
    cluster = await PostgresCluster.start();
  }, 120_000);
  afterAll(() => cluster?.stop());
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('refuses intake with 503 and reports not ready while PostgreSQL is down, then resumes with exact totals', async () => {
    harness = await Harness.start({ postgresUrl: cluster.createDatabase('outage') });
    for (const id of ['a', 'b', 'c']) harness.simulator.createMessage('orders', plan, id);
    expect((await harness.post([{ target, notificationId: 'a' }, { target, notificationId: 'b' }])).status).toBe(202);
    await harness.advance(5_000);
    expect(await ready(harness)).toBe(200);

    cluster.stopServer();
    try {
      const refused = await harness.post({ target, notificationId: 'c' });
      expect(refused.status).toBe(503);
      expect(JSON.stringify(refused.json)).toMatch(/cannot be reached/);
      expect(await ready(harness)).toBe(503);
      // Polling waits: no answers are fetched that could not be written.
      const before = harness.simulator.requests.length;
      await harness.advance(30_000, 5_000);
      expect(harness.simulator.requests.length).toBe(before);
      expect((await harness.post({ target, notificationId: 'c' })).status).toBe(503);
    } finally {
      cluster.startServer();
    }

    // The periodic check (every 5 s of the exporter's clock) notices the database is back; the
    // check itself is a real round trip, so give it real time too.
    const running = harness;
    await waitFor(
      async () => {
        await running.advance(5_000);
        return (await ready(running)) === 200 ? true : undefined;
      },
      { description: '/-/ready to answer 200 again', timeoutMilliseconds: 20_000 },
    );
    expect((await harness.post({ target, notificationId: 'c' })).status).toBe(202);
    await harness.advance(90_000, 2_000);
    const samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_outcomes_total', { target, outcome: 'Success' })).toBe(120);
    expect(sumOf(samples, 'push_notification_messages_total', { target, state: 'Completed' })).toBe(3);
    expect(sumOf(samples, 'push_notification_tracked_messages', { target })).toBe(0);
    expect(sumOf(samples, 'push_notification_intake_notifications_total', { target, result: 'accepted' })).toBe(3);
    expect(harness.logLines.filter((line) => line.msg === 'state storage unreachable: intake answers 503 and polling waits until it is back')).toHaveLength(1);
  });
});
