import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import { NotificationHubsSimulator } from '../../src/simulator/notification-hubs/server.js';
import { seededRandom } from '../../src/simulator/random.js';
import { requireBuild } from '../support/exporter-process.js';
import { FleetSender, fleetSum, fleetTarget as target, postIds, Replica } from '../support/fleet.js';
import { PostgresCluster, postgresUnavailable } from '../support/postgres.js';
import type { Sample } from '../support/prometheus-text.js';
import { waitFor } from '../support/wait.js';

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/** Σ over the fleet of each (platform, outcome) series: what `sum by (platform, outcome)` shows. */
function fleetOutcomes(scrapes: readonly Sample[][]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const samples of scrapes) {
    for (const sample of samples) {
      if (sample.name !== 'push_notification_outcomes_total' || sample.labels.target !== target) continue;
      const key = `${sample.labels.platform}/${sample.labels.outcome}`;
      totals.set(key, (totals.get(key) ?? 0) + sample.value);
    }
  }
  return new Map([...totals].filter(([, value]) => value > 0));
}

function truthOutcomes(simulator: NotificationHubsSimulator): Map<string, number> {
  return new Map([...simulator.truth('orders').outcomes].map(([key, value]) => [key.replace('\u0000', '/'), value] as const).filter(([, value]) => value > 0));
}

/**
 * Two replicas as real processes on one real PostgreSQL, in real time: intake alternates between
 * them, one is killed with kill -9 while polling and started again later (after the other took its
 * work over), PostgreSQL is restarted once. At the end Σ over replicas equals the simulator's
 * truth, nothing is tracked any more, and an ID sent to both was tracked once. Then a rolling
 * restart of both under steady intake loses no acknowledged ID.
 */
describe.skipIf(postgresUnavailable())('a fleet of two replicas on one PostgreSQL', () => {
  const random = seededRandom(1212);
  let cluster: PostgresCluster;
  let simulator: NotificationHubsSimulator;
  let folder: string;
  let replicas: Replica[] = [];

  beforeAll(async () => {
    requireBuild();
    cluster = await PostgresCluster.start();
    folder = mkdtempSync(join(tmpdir(), 'pne-fleet-'));
  }, 120_000);

  afterEach(async () => {
    await Promise.all(replicas.map((replica) => replica.kill()));
    replicas = [];
    await simulator?.stop();
  });

  afterAll(() => {
    cluster?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  function planFor(index: number): MessagePlan {
    const between = (low: number, high: number) => Math.round(low + random() * (high - low));
    return {
      notReadyMilliseconds: between(200, 3_000),
      enqueuedMilliseconds: between(100, 1_000),
      processingMilliseconds: between(1_000, 15_000),
      finalState: index % 13 === 0 ? 'Abandoned' : 'Completed',
      outcomes: { ApnsOutcomeCounts: { Success: between(1, 200), WrongToken: between(0, 5) }, FcmV1OutcomeCounts: { Success: between(1, 100) } },
    };
  }

  async function fleet(database: string): Promise<Replica[]> {
    // A simulator of its own per test: its truth is this test's messages.
    simulator = new NotificationHubsSimulator({ namespace: 'contoso', hubs: [{ name: 'orders', keys: { DefaultListenSharedAccessSignature: 'fleet-key' } }], random });
    await simulator.start();
    const url = cluster.createDatabase(database);
    replicas = ['replica-a', 'replica-b'].map((id) => new Replica(id, folder, url, simulator));
    await Promise.all(replicas.map((replica) => replica.start()));
    return replicas;
  }

  /** Waits until nothing is tracked on any replica, then returns every replica's scrape. */
  async function settled(fleetReplicas: readonly Replica[]): Promise<Sample[][]> {
    return waitFor(
      async () => {
        const scrapes = await Promise.all(fleetReplicas.map((replica) => replica.scrape()));
        return fleetSum(scrapes, 'push_notification_tracked_messages', { target }) === 0 ? scrapes : undefined;
      },
      { description: 'every message to finish on the fleet', timeoutMilliseconds: 180_000, intervalMilliseconds: 1_000 },
    );
  }

  it('counts exactly what the simulator says through a kill -9 mid-poll and a PostgreSQL restart', async () => {
    const [a, b] = await fleet('fleet_kill');
    const sender = new FleetSender([a as Replica, b as Replica]);
    const batches = 50;
    let sent = 0;
    let killed = false;
    let restarted = false;
    const startedAt = Date.now();
    for (let batch = 0; batch < batches; batch += 1) {
      const ids = Array.from({ length: 40 }, (_, index) => simulator.createMessage('orders', planFor(sent + index)));
      sent += ids.length;
      await sender.send(ids);
      const elapsed = Date.now() - startedAt;
      // Polls start 10 s after intake: by 12 s replica a is mid-poll.
      if (!killed && elapsed > 12_000) {
        await a?.kill();
        killed = true;
      }
      if (killed && !restarted && elapsed > 15_000) {
        cluster.restart();
        restarted = true;
      }
      await sleep(400);
    }
    expect(killed && restarted).toBe(true);

    // b takes a's messages over once a's lease ran out (and b has been connected a lease long).
    await waitFor(() => ((b as Replica).logLines('took over tracking from a replica that stopped') > 0 ? true : undefined), {
      description: 'replica b to take over the work of replica a',
      timeoutMilliseconds: 120_000,
      intervalMilliseconds: 500,
    });
    await a?.start();
    // An ID sent to both replicas is tracked once.
    const both = simulator.createMessage('orders', planFor(7));
    const first = await postIds(a?.url as string, [both]);
    const second = await postIds(b?.url as string, [both]);
    expect([first?.json, second?.json]).toEqual([{ accepted: 1, duplicates: 0 }, { accepted: 0, duplicates: 1 }]);
    sender.acknowledged.add(both);

    const scrapes = await settled([a as Replica, b as Replica]);
    const truth = simulator.truth('orders');
    const figures = {
      messages: sender.acknowledged.size,
      kills: 1,
      postgresRestarts: 1,
      refusedBatches: sender.refusals,
      outcomesTotal: fleetSum(scrapes, 'push_notification_outcomes_total', { target }),
      outcomesTruth: [...truth.outcomes.values()].reduce((total, value) => total + value, 0),
      messagesTotal: fleetSum(scrapes, 'push_notification_messages_total', { target }),
      accepted: fleetSum(scrapes, 'push_notification_intake_notifications_total', { target, result: 'accepted' }),
      perReplica: scrapes.map((samples) => fleetSum([samples], 'push_notification_messages_total', { target })),
    };
    process.stdout.write(`fleet figures: ${JSON.stringify(figures)}\n`);
    expect(fleetOutcomes(scrapes)).toEqual(truthOutcomes(simulator));
    expect(fleetSum(scrapes, 'push_notification_messages_total', { target, state: 'Completed' })).toBe(truth.finalStates.get('Completed') ?? 0);
    expect(fleetSum(scrapes, 'push_notification_messages_total', { target, state: 'Abandoned' })).toBe(truth.finalStates.get('Abandoned') ?? 0);
    expect(figures.messagesTotal).toBe(sender.acknowledged.size);
    expect(figures.accepted).toBe(sender.acknowledged.size);
    expect(fleetSum(scrapes, 'push_notification_tracking_expired_total', { target })).toBe(0);
    expect(fleetSum(scrapes, 'push_notification_tracked_messages', { target })).toBe(0);
    // Both replicas did part of the work, and each target's shared gauges come from one replica.
    expect(figures.perReplica.every((count) => count > 0)).toBe(true);
    expect(scrapes.map((samples) => samples.filter((sample) => sample.name === 'push_notification_source_up').length).sort()).toEqual([0, 1]);
  }, 420_000);

  it('loses no acknowledged ID in a rolling restart of both replicas under steady intake', async () => {
    const [a, b] = await fleet('fleet_rolling');
    const sender = new FleetSender([a as Replica, b as Replica]);
    let sending = true;
    let sent = 0;
    const steady = (async () => {
      while (sending) {
        const ids = Array.from({ length: 10 }, (_, index) => simulator.createMessage('orders', planFor(sent + index)));
        sent += ids.length;
        await sender.send(ids);
        await sleep(100);
      }
    })();
    await sleep(3_000);
    for (const replica of [a, b] as Replica[]) {
      // As Kubernetes does it: SIGTERM (the replica finishes its writes and hands its work back), then a new process.
      expect(await replica.stop()).toEqual({ code: 0, signal: null });
      await replica.start();
      await sleep(3_000);
    }
    sending = false;
    await steady;

    const scrapes = await settled([a as Replica, b as Replica]);
    const figures = {
      batches: sender.acknowledgedAt.length,
      messages: sender.acknowledged.size,
      refusedAttempts: sender.refusals,
      longestIntakeGapMilliseconds: sender.longestGapMilliseconds(),
      accepted: fleetSum(scrapes, 'push_notification_intake_notifications_total', { target, result: 'accepted' }),
      messagesTotal: fleetSum(scrapes, 'push_notification_messages_total', { target }),
    };
    process.stdout.write(`rolling restart figures: ${JSON.stringify(figures)}\n`);
    expect(figures.accepted).toBe(sent);
    expect(figures.messagesTotal).toBe(sent);
    expect(fleetOutcomes(scrapes)).toEqual(truthOutcomes(simulator));
  }, 420_000);
});
