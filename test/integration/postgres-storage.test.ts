import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { histogramBounds } from '../../src/metrics/names.js';
import { PostgresStorage } from '../../src/tracking/postgres/postgres-storage.js';
import { postgresMigrations } from '../../src/tracking/postgres/schema.js';
import { StoreError, WorkLostError } from '../../src/tracking/storage.js';
import type { PollOutcome } from '../../src/tracking/types.js';
import { PostgresCluster, postgresUnavailable } from '../support/postgres.js';

const intake = 'push_notification_intake_notifications_total';
const outcomes = 'push_notification_outcomes_total';
/** Short leases, so a takeover happens within the test. */
const timing = { leaseMilliseconds: 1_500, heartbeatMilliseconds: 500 };

function poll(notificationId: string, overrides: Partial<PollOutcome> = {}): PollOutcome {
  return {
    target: 'prod',
    notificationId,
    state: 'Processing',
    nextPollAt: 2_000,
    attempts: 1,
    notFoundCount: 0,
    lastStatus: '200',
    polledAt: 1_000,
    countUpdates: [{ platform: 'apns', outcome: 'Success', count: 5n }],
    counterIncrements: [{ family: outcomes, labels: { target: 'prod', outcome: 'Success' }, value: 5 }],
    histogramObservations: [],
    ...overrides,
  };
}

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

describe.skipIf(postgresUnavailable())('PostgreSQL storage, several replicas on one database', () => {
  let cluster: PostgresCluster;
  let url: string;
  let databases = 0;
  const open: PostgresStorage[] = [];

  beforeAll(async () => {
    cluster = await PostgresCluster.start();
  }, 120_000);
  afterAll(() => cluster?.stop());
  afterEach(async () => {
    await Promise.all(open.splice(0).map((storage) => storage.close().catch(() => undefined)));
  });

  async function replica(replicaId: string, database = url): Promise<PostgresStorage> {
    const storage = await PostgresStorage.open({ connectionString: database, replicaId, poolSize: 4 }, histogramBounds, undefined, timing);
    open.push(storage);
    return storage;
  }

  function freshDatabase(): string {
    databases += 1;
    url = cluster.createDatabase(`storage_${databases}`);
    return url;
  }

  it('creates the schema once when replicas start together, and refuses a second process with the same replicaId', async () => {
    freshDatabase();
    const [a, b] = await Promise.all([replica('a'), replica('b')]);
    expect(a.backend).toBe('postgres');
    expect(b.backend).toBe('postgres');
    expect(cluster.sql('SELECT version FROM pne_schema_version', url)).toBe(String(postgresMigrations.length));
    expect(cluster.sql('SELECT count(*) FROM pne_schema_version', url)).toBe('1');
    await expect(replica('a')).rejects.toThrow(StoreError);
    await expect(replica('a')).rejects.toThrow(/replicaId a is in use by another running exporter/);
  });

  it('answers an ID known to any replica as a duplicate, and keeps counter totals per replica across restarts', async () => {
    freshDatabase();
    const a = await replica('a');
    const b = await replica('b');
    const first = await a.acceptNotifications([{ target: 'prod', notificationId: 'x' }, { target: 'prod', notificationId: 'y' }, { target: 'prod', notificationId: 'x' }], 0, 10_000);
    expect(first.accepted.map((message) => message.notificationId)).toEqual(['x', 'y']);
    expect(first.duplicates).toBe(1);
    const second = await b.acceptNotifications([{ target: 'prod', notificationId: 'x' }, { target: 'prod', notificationId: 'z' }], 5, 10_005);
    expect(second.accepted.map((message) => message.notificationId)).toEqual(['z']);
    expect(a.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(2);
    expect(b.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(1);
    expect(b.counters.get(intake, { target: 'prod', result: 'duplicate' })).toBe(1);

    await a.recordPoll(poll('x'));
    await a.close();
    open.splice(open.indexOf(a), 1);
    const restarted = await replica('a');
    expect(restarted.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(2);
    expect(restarted.counters.get(outcomes, { target: 'prod', outcome: 'Success' })).toBe(5);
    expect(b.counters.get(outcomes, { target: 'prod', outcome: 'Success' })).toBe(0);
    // A clean stop gave a's messages back: whoever claims next takes them, with their last counts.
    const claimed = await restarted.claimWork(['prod']);
    expect(claimed.messages.map((message) => message.notificationId).sort()).toEqual(['x', 'y']);
    expect(claimed.messages.find((message) => message.notificationId === 'x')?.lastCounts?.get('apns\u0000Success')).toBe(5n);
  });

  it('writes intake requests handed in together in one transaction, each with its own answer, a repeated ID accepted once', async () => {
    freshDatabase();
    const a = await replica('a');
    await a.acceptNotifications([{ target: 'prod', notificationId: 'known' }], 0, 10_000);
    const before = a.intakeTransactions;
    const pending = [
      a.acceptNotifications([{ target: 'prod', notificationId: 'p' }], 1_000, 11_000),
      a.acceptNotifications([{ target: 'prod', notificationId: 'q' }, { target: 'prod', notificationId: 'known' }], 1_000, 11_000),
      // The same ID as the first request, in the same group: a duplicate.
      a.acceptNotifications([{ target: 'prod', notificationId: 'p' }], 1_000, 11_000),
    ];
    const results = await Promise.all(pending);
    expect(a.intakeTransactions - before).toBe(1);
    expect(results.map((result) => result.accepted.map((message) => message.notificationId))).toEqual([['p'], ['q'], []]);
    expect(results.map((result) => result.duplicates)).toEqual([0, 1, 1]);
    expect(a.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(3);
    expect(a.counters.get(intake, { target: 'prod', result: 'duplicate' })).toBe(2);
    expect(cluster.sql(`SELECT string_agg(notification_id, ',' ORDER BY notification_id) FROM azure_messages WHERE owner = 'a'`, url)).toBe('known,p,q');
  });

  it('lets a replica take over the work of one whose lease ran out, and fences the stale owner off', async () => {
    freshDatabase();
    const a = await replica('a');
    const b = await replica('b');
    await a.acceptNotifications([{ target: 'prod', notificationId: 'm' }], 0, 10_000);
    await a.acceptNotifications([{ target: 'other', notificationId: 'not-configured-here' }], 0, 10_000);
    // One replica per target reports the shared gauges (source_up, last success): the first to ask.
    const shared = [{ source: 'azure_notification_hubs', target: 'prod' }, { source: 'everlive', target: 'legacy' }];
    expect([...(await a.reportingTargets(shared))]).toHaveLength(2);
    expect([...(await b.reportingTargets(shared))]).toEqual([]);
    // a is alive: b takes nothing of it, even once b may take over.
    await sleep(timing.leaseMilliseconds + 200);
    expect((await b.claimWork(['prod'])).messages).toEqual([]);
    expect([...(await b.reportingTargets(shared))]).toEqual([]);

    // a stops renewing its lease (as a process that hangs or is cut off would).
    cluster.sql(`UPDATE replicas SET lease_until = now() - interval '1 second' WHERE replica_id = 'a'`, url);
    await (a as unknown as { presence: { leave(): Promise<void> } }).presence.leave();
    const taken = await b.claimWork(['prod']);
    expect(taken.messages.map((message) => message.notificationId)).toEqual(['m']);
    expect((await b.claimWork(['prod'])).messages).toEqual([]);
    expect([...(await b.reportingTargets(shared))]).toHaveLength(2);

    // a's answer, computed from its stale copy, is refused whole: nothing counted twice.
    await expect(a.recordPoll(poll('m'))).rejects.toThrow(WorkLostError);
    expect(a.counters.get(outcomes, { target: 'prod', outcome: 'Success' })).toBe(0);
    // Times converted from the monotonic clock carry fractions of a millisecond.
    await b.recordPoll(poll('m', { polledAt: 1_000.25, nextPollAt: 2_000.75 }));
    expect(b.counters.get(outcomes, { target: 'prod', outcome: 'Success' })).toBe(5);
    expect(cluster.sql(`SELECT replica_id, value FROM counter_totals WHERE family = '${outcomes}'`, url)).toBe('b|5');
    expect(cluster.sql(`SELECT owner, revision FROM azure_messages WHERE notification_id = 'm'`, url)).toBe('b|2');
  });

  /** Poll transactions attempted so far, shared or alone (the group commit counts them). */
  const pollTransactions = (storage: PostgresStorage) => (storage as unknown as { polls: { transactions: number } }).polls.transactions;

  it('writes the answers of a group in one transaction, and when one of them is lost writes the others and refuses only that one', async () => {
    freshDatabase();
    const a = await replica('a');
    await a.acceptNotifications(['m1', 'm2', 'm3', 'm4'].map((notificationId) => ({ target: 'prod', notificationId })), 0, 10_000);
    // Handed in together: one group, one transaction. The optional fields are kept where an answer leaves them out.
    const before = pollTransactions(a);
    await Promise.all([
      a.recordPoll(poll('m1', { reportedState: 'Enqueued', firstFoundAt: 900, enqueueTime: 850.5 })),
      a.recordPoll(poll('m2')),
      a.recordPoll(poll('m3')),
      a.recordPoll(poll('m4', { state: 'Completed', nextPollAt: null, endTime: 950.25, finished: { at: 1_000, reason: 'terminal' }, errorDetails: { uri: 'https://details.invalid/m4', fetchAt: 1_500 } })),
    ]);
    expect(pollTransactions(a) - before).toBe(1);
    expect(cluster.sql(`SELECT notification_id, owner, revision, next_poll_at, finished_at, finish_reason, end_time FROM azure_messages ORDER BY notification_id`, url)).toBe(
      ['m1|a|1|2000|||', 'm2|a|1|2000|||', 'm3|a|1|2000|||', 'm4||1||1000|terminal|950.25'].join('\n'),
    );
    expect(cluster.sql(`SELECT notification_id, uri, state, next_fetch_at, first_seen_at, owner FROM azure_error_details`, url)).toBe('m4|https://details.invalid/m4|pending|1500|1000|a');

    // Another replica took m2 over between a's claim and its answer: its revision moved on.
    cluster.sql(`UPDATE azure_messages SET owner = 'b', revision = revision + 1 WHERE notification_id = 'm2'`, url);
    const second = before + 1;
    const answers = await Promise.allSettled([
      a.recordPoll(poll('m1', { attempts: 2, polledAt: 3_000, countUpdates: [{ platform: 'apns', outcome: 'Success', count: 7n }] })),
      a.recordPoll(poll('m2', { attempts: 2, polledAt: 3_000, countUpdates: [{ platform: 'apns', outcome: 'Success', count: 7n }] })),
      a.recordPoll(poll('m3', { attempts: 2, polledAt: 3_000, countUpdates: [{ platform: 'apns', outcome: 'Success', count: 7n }] })),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((answers[1] as PromiseRejectedResult).reason).toBeInstanceOf(WorkLostError);
    // The shared transaction was refused whole, then each answer was tried alone.
    expect(pollTransactions(a) - second).toBe(4);
    expect(cluster.sql(`SELECT notification_id, owner, revision, attempts, last_polled_at, reported_state, first_found_at, enqueue_time FROM azure_messages WHERE finished_at IS NULL ORDER BY notification_id`, url)).toBe(
      ['m1|a|2|2|3000|Enqueued|900|850.5', 'm2|b|2|1|1000|||', 'm3|a|2|2|3000|||'].join('\n'),
    );
    expect(cluster.sql(`SELECT notification_id, count FROM azure_outcome_counts ORDER BY notification_id`, url)).toBe(['m1|7', 'm2|5', 'm3|7', 'm4|5'].join('\n'));
    // 4 answers of 5, then the two written of the three: m2's second answer counts nowhere.
    expect(a.counters.get(outcomes, { target: 'prod', outcome: 'Success' })).toBe(30);
    expect(cluster.sql(`SELECT value FROM counter_totals WHERE family = '${outcomes}'`, url)).toBe('30');
    // The answers written are fenced on the revisions they left: the next ones are written too.
    await Promise.all([a.recordPoll(poll('m1', { attempts: 3 })), a.recordPoll(poll('m3', { attempts: 3 }))]);
    expect(cluster.sql(`SELECT string_agg(notification_id || ':' || revision, ',' ORDER BY notification_id) FROM azure_messages WHERE owner = 'a'`, url)).toBe('m1:3,m3:3');
  });

  it('writes two answers for the same message in one group one after the other, each over the revision the earlier one left', async () => {
    freshDatabase();
    const a = await replica('a');
    await a.acceptNotifications([{ target: 'prod', notificationId: 'twice' }], 0, 10_000);
    const before = pollTransactions(a);
    await Promise.all([
      a.recordPoll(poll('twice', { attempts: 1, reportedState: 'Enqueued' })),
      a.recordPoll(poll('twice', { attempts: 2, countUpdates: [{ platform: 'apns', outcome: 'Success', count: 8n }] })),
    ]);
    // Not refused as lost and retried alone: written in the shared transaction, the later one last.
    expect(pollTransactions(a) - before).toBe(1);
    expect(cluster.sql(`SELECT owner, revision, attempts, reported_state FROM azure_messages`, url)).toBe('a|2|2|Enqueued');
    expect(cluster.sql(`SELECT count FROM azure_outcome_counts`, url)).toBe('8');
    await a.recordPoll(poll('twice', { attempts: 3 }));
    expect(cluster.sql(`SELECT revision, attempts FROM azure_messages`, url)).toBe('3|3');
  });

  it('hands an Everlive app to one replica at a time', async () => {
    freshDatabase();
    const a = await replica('a');
    const b = await replica('b');
    expect(await a.everlive.claimApp('legacy')).toBe(true);
    expect(await b.everlive.claimApp('legacy')).toBe(false);
    expect(await a.everlive.claimApp('legacy')).toBe(true);
    const page = { target: 'legacy', now: 1, cursor: 1, notifications: [], invalidItems: [], feedback: [], counterIncrements: [] };
    await expect(b.everlive.recordPage(page)).rejects.toThrow(WorkLostError);
    await expect(a.everlive.recordPage(page)).resolves.toEqual(new Set());
  });

  it('says the database is unreachable while it is stopped, and recovers by itself', async () => {
    freshDatabase();
    const a = await replica('a');
    cluster.stopServer();
    try {
      await expect(a.acceptNotifications([{ target: 'prod', notificationId: 'lost?' }], 0, 1)).rejects.toThrow();
      expect(a.problem()).toMatchObject({ lasting: false, message: expect.stringMatching(/PostgreSQL cannot be reached/) as unknown });
      expect(a.counters.get(intake, { target: 'prod', result: 'accepted' })).toBe(0);
    } finally {
      cluster.startServer();
    }
    await a.checkHealth();
    expect(a.problem()).toBeUndefined();
    const result = await a.acceptNotifications([{ target: 'prod', notificationId: 'lost?' }], 0, 1);
    expect(result.accepted).toHaveLength(1);
  });
});
