import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import { Harness } from '../support/harness.js';
import { groupBy, sumOf, type Sample } from '../support/prometheus-text.js';

const target = 'orders-target';
const failureMatcher = /^(?!(Success|Sent|Skipped|NoTargets)$)/;

/** Processing for as long as the test likes, with these counts (processing 0 ms: all counted at once). */
function processing(outcomes: MessagePlan['outcomes']): MessagePlan {
  return { notReadyMilliseconds: 1_000, enqueuedMilliseconds: 0, processingMilliseconds: 0, finalState: 'Processing', outcomes };
}

function completedNow(outcomes: MessagePlan['outcomes']): MessagePlan {
  return { notReadyMilliseconds: 0, enqueuedMilliseconds: 0, processingMilliseconds: 0, finalState: 'Completed', outcomes };
}

/** Failures as the recording rules count them: outcome!~"Success|Sent|Skipped|NoTargets". */
function failures(samples: Sample[]): number {
  return samples
    .filter((sample) => sample.name === 'push_notification_outcomes_total' && sample.labels.target === target && failureMatcher.test(sample.labels.outcome ?? ''))
    .reduce((total, sample) => total + sample.value, 0);
}

describe('outcome names', () => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  it('exports success and wrongtoken as Success and WrongToken, counts a change of spelling between polls once, and Success is no failure', async () => {
    harness = await Harness.start();
    const { simulator } = harness;
    const id = simulator.createMessage('orders', processing({ ApnsOutcomeCounts: { success: 5, wrongtoken: 1 } }));
    await harness.post({ target, notificationId: id });
    await harness.advance(15_000);

    let samples = await harness.scrape();
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { target })).toEqual(
      new Map([
        ['apns/Success', 5],
        ['apns/WrongToken', 1],
      ]),
    );
    expect(failures(samples)).toBe(1);

    // The same message now answers in the canonical spelling, and has finished.
    simulator.createMessage('orders', completedNow({ ApnsOutcomeCounts: { Success: 8, WrongToken: 1 } }), id);
    await harness.advance(60_000);

    samples = await harness.scrape();
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { target })).toEqual(
      new Map([
        ['apns/Success', 8],
        ['apns/WrongToken', 1],
      ]),
    );
    expect(failures(samples)).toBe(1);
    expect(sumOf(samples, 'push_notification_messages_total', { target, state: 'Completed' })).toBe(1);
    expect((await harness.lookup(target, id)).json).toMatchObject({ state: 'Completed', outcomes: { apns: { Success: 8, WrongToken: 1 } } });
    const finished = harness.logLines.filter((line) => line.msg === 'notification finished with failures');
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({ failures: 1, failureSummary: { WrongToken: 1 }, outcomes: { apns: { Success: 8, WrongToken: 1 } } });
  });

  it('keeps the series and last counts of a state file written before names were folded, and counts only real growth', async () => {
    harness = await Harness.start();
    const { simulator } = harness;
    const id = simulator.createMessage('orders', processing({ ApnsOutcomeCounts: { success: 5, wrongtoken: 1 } }));
    await harness.post({ target, notificationId: id });
    await harness.advance(15_000);

    // What an earlier version wrote for the same answer: the upstream spelling, in the last-seen
    // counts and in the durable counter series.
    await harness.exporter.stop();
    const database = new Database(harness.statePath);
    // Earlier versions kept last-seen counts as rows of their own, not in the message's row.
    database.exec(`INSERT INTO azure_outcome_counts (target, notification_id, platform, outcome, count)
      SELECT m.target, m.notification_id, p.key, lower(o.key), o.value
        FROM azure_messages m, json_each(m.outcome_counts) p, json_each(p.value) o;
      UPDATE azure_messages SET outcome_counts = NULL;`);
    database.prepare(`UPDATE counter_totals SET labels = replace(replace(labels, '"Success"', '"success"'), '"WrongToken"', '"wrongtoken"')`).run();
    database.close();
    await harness.startExporter();

    let samples = await harness.scrape();
    // Durable counters are not lost, renamed or merged (merging would count them twice in increase()).
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { target })).toEqual(
      new Map([
        ['apns/success', 5],
        ['apns/wrongtoken', 1],
      ]),
    );

    simulator.createMessage('orders', completedNow({ ApnsOutcomeCounts: { Success: 8, WrongToken: 1 } }), id);
    await harness.advance(60_000);
    samples = await harness.scrape();
    // Growth since the last seen count only (5 → 8), under the canonical name; the total is the service's.
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { target })).toEqual(
      new Map([
        ['apns/success', 5],
        ['apns/wrongtoken', 1],
        ['apns/Success', 3],
      ]),
    );
    expect(sumOf(samples, 'push_notification_outcomes_total', { target })).toBe(9);
    expect((await harness.lookup(target, id)).json).toMatchObject({ state: 'Completed', outcomes: { apns: { Success: 8, WrongToken: 1 } } });
  });

  it('handles an empty outcome collection, served only because the scenario asks for it', async () => {
    harness = await Harness.start();
    const id = harness.simulator.createMessage('orders', {
      notReadyMilliseconds: 1_000,
      enqueuedMilliseconds: 20_000,
      processingMilliseconds: 5_000,
      finalState: 'Completed',
      emptyCollections: true,
      outcomes: { ApnsOutcomeCounts: { Success: 4 }, FcmV1OutcomeCounts: { Success: 2, InvalidToken: 1 } },
    });
    await harness.post({ target, notificationId: id });
    await harness.advance(15_000);
    let samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_tracked_messages', { target, state: 'Enqueued' })).toBe(1);
    expect(sumOf(samples, 'push_notification_outcomes_total', { target })).toBe(0);
    expect(sumOf(samples, 'push_notification_source_up', { target })).toBe(1);

    await harness.advance(2 * 60_000, 2_000);
    samples = await harness.scrape();
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { target })).toEqual(harness.simulator.truth('orders').outcomes);
    expect(sumOf(samples, 'push_notification_messages_total', { target, state: 'Completed' })).toBe(1);
    expect(harness.logLines.filter((line) => line.msg === 'unusable upstream answer')).toEqual([]);
  });
});
