import { describe, expect, it } from 'vitest';
import type { AzureNotificationHubTarget } from '../../config/load.js';
import { OutcomeLabeler } from '../../metrics/labels.js';
import { outcomeCountKey, type TrackedMessage } from '../../tracking/types.js';
import type { NotificationDetails } from './notification-details.js';
import { computePollOutcome } from './poll-outcome.js';

const target = {
  name: 'prod',
  notFoundDeadlineMilliseconds: 30 * 60_000,
  maxAgeMilliseconds: 2 * 3_600_000,
  scheduledMaxAgeMilliseconds: 8 * 86_400_000,
} as AzureNotificationHubTarget;
const acceptedAt = Date.UTC(2026, 0, 1);
const noJitter = () => 0;

function message(overrides: Partial<TrackedMessage> = {}): TrackedMessage {
  return {
    target: 'prod',
    notificationId: 'id-1',
    acceptedAt,
    state: 'Pending',
    scheduled: false,
    nextPollAt: acceptedAt + 10_000,
    attempts: 0,
    notFoundCount: 0,
    unchangedCount: 0,
    lastCounts: new Map(),
    ...overrides,
  };
}

function details(overrides: Partial<NotificationDetails>): NotificationDetails {
  return { state: 'Processing', reportedState: 'Processing', targetPlatforms: [], platforms: [], ...overrides };
}

const decide = (tracked: TrackedMessage, answer: Parameters<typeof computePollOutcome>[0]['answer'], now: number, labeler = new OutcomeLabeler()) =>
  computePollOutcome({ message: tracked, answer, now, target, labeler, random: noJitter });

describe('computePollOutcome', () => {
  it('adds only the growth since the last answer, per platform and outcome', () => {
    const tracked = message({
      state: 'Processing',
      lastCounts: new Map([
        [outcomeCountKey('apns', 'Success'), 10n],
        [outcomeCountKey('apns', 'WrongToken'), 2n],
      ]),
    });
    const decision = decide(
      tracked,
      {
        kind: 'details',
        status: 200,
        details: details({
          platforms: [
            { collection: 'ApnsOutcomeCounts', platform: 'apns', outcomes: [{ name: 'Success', count: 25n }, { name: 'WrongToken', count: 2n }] },
            { collection: 'FcmV1OutcomeCounts', platform: 'fcmv1', outcomes: [{ name: 'Success', count: 4n }] },
          ],
        }),
      },
      acceptedAt + 20_000,
    );
    expect(decision.outcome.countUpdates).toEqual([
      { platform: 'apns', outcome: 'Success', count: 25n },
      { platform: 'fcmv1', outcome: 'Success', count: 4n },
    ]);
    expect(decision.outcome.counterIncrements).toEqual([
      { family: 'push_notification_outcomes_total', labels: { source: 'azure_notification_hubs', target: 'prod', platform: 'apns', outcome: 'Success' }, value: 15 },
      { family: 'push_notification_outcomes_total', labels: { source: 'azure_notification_hubs', target: 'prod', platform: 'fcmv1', outcome: 'Success' }, value: 4 },
    ]);
    expect(decision.outcome.finished).toBeUndefined();
    // Same state again: the next poll is 15 s away, not 10 s.
    expect(decision.message.nextPollAt).toBe(acceptedAt + 20_000 + 15_000);
  });

  it('ignores a count that shrinks: what happened cannot un-happen', () => {
    const tracked = message({ state: 'Processing', unchangedCount: 0, lastCounts: new Map([[outcomeCountKey('apns', 'Success'), 10n]]) });
    const decision = decide(
      tracked,
      { kind: 'details', status: 200, details: details({ platforms: [{ collection: 'ApnsOutcomeCounts', platform: 'apns', outcomes: [{ name: 'Success', count: 7n }] }] }) },
      acceptedAt + 20_000,
    );
    expect(decision.outcome.countUpdates).toEqual([]);
    expect(decision.outcome.counterIncrements).toEqual([]);
  });

  it('counts a terminal state once, with its durations', () => {
    const decision = decide(
      message(),
      {
        kind: 'details',
        status: 200,
        details: details({ state: 'Abandoned', reportedState: 'Abandoned', enqueueTime: acceptedAt, startTime: acceptedAt + 1_500, endTime: acceptedAt + 31_500 }),
      },
      acceptedAt + 60_000,
    );
    expect(decision.outcome.finished).toEqual({ at: acceptedAt + 60_000, reason: 'terminal' });
    expect(decision.outcome.nextPollAt).toBeNull();
    expect(decision.outcome.counterIncrements).toEqual([
      { family: 'push_notification_messages_total', labels: { source: 'azure_notification_hubs', target: 'prod', state: 'Abandoned' }, value: 1 },
    ]);
    expect(decision.outcome.histogramObservations).toEqual([
      { family: 'push_notification_queue_duration_seconds', labels: { source: 'azure_notification_hubs', target: 'prod' }, value: 1.5 },
      { family: 'push_notification_processing_duration_seconds', labels: { source: 'azure_notification_hubs', target: 'prod' }, value: 30 },
    ]);
  });

  it('retries a 404 with growing gaps, never sooner than 10 s, and expires it at the deadline', () => {
    const first = decide(message(), { kind: 'not_found', status: 404 }, acceptedAt + 10_000);
    expect(first.message.nextPollAt).toBe(acceptedAt + 20_000);
    const third = decide(message({ notFoundCount: 2 }), { kind: 'not_found', status: 404 }, acceptedAt + 40_000);
    expect(third.message.nextPollAt).toBe(acceptedAt + 80_000);
    // Close to the deadline: the final check lands on the deadline, at least 10 s later.
    const nearDeadline = decide(message({ notFoundCount: 9 }), { kind: 'not_found', status: 404 }, acceptedAt + 30 * 60_000 - 3_000);
    expect(nearDeadline.message.nextPollAt).toBe(acceptedAt + 30 * 60_000 + 7_000);
    const expired = decide(message({ notFoundCount: 10 }), { kind: 'not_found', status: 404 }, acceptedAt + 30 * 60_000);
    expect(expired.outcome.finished).toEqual({ at: acceptedAt + 30 * 60_000, reason: 'not_found' });
    expect(expired.outcome.counterIncrements).toEqual([
      { family: 'push_notification_tracking_expired_total', labels: { source: 'azure_notification_hubs', target: 'prod', reason: 'not_found' }, value: 1 },
    ]);
  });

  it('gives up a non-terminal message at maxAge, still counting its last growth', () => {
    const decision = decide(
      message({ state: 'Processing' }),
      { kind: 'details', status: 200, details: details({ platforms: [{ collection: 'WnsOutcomeCounts', platform: 'wns', outcomes: [{ name: 'Success', count: 3n }] }] }) },
      acceptedAt + 2 * 3_600_000,
    );
    expect(decision.outcome.finished?.reason).toBe('max_age');
    expect(decision.outcome.counterIncrements.map((increment) => increment.family)).toEqual([
      'push_notification_outcomes_total',
      'push_notification_tracking_expired_total',
    ]);
  });

  it('polls Scheduled messages every 5 minutes', () => {
    const decision = decide(message(), { kind: 'details', status: 200, details: details({ state: 'Scheduled', reportedState: 'Scheduled' }) }, acceptedAt + 10_000);
    expect(decision.message.nextPollAt).toBe(acceptedAt + 10_000 + 5 * 60_000);
  });

  it('keeps asking for a scheduled send that answers 404, every 5 minutes, until scheduledMaxAge (not notFoundDeadline)', () => {
    const scheduled = message({ state: 'Scheduled', scheduled: true, notFoundCount: 20 });
    const pastNotFoundDeadline = decide(scheduled, { kind: 'not_found', status: 404 }, acceptedAt + 3 * 3_600_000);
    expect(pastNotFoundDeadline.outcome.finished).toBeUndefined();
    expect(pastNotFoundDeadline.outcome.state).toBe('Scheduled');
    expect(pastNotFoundDeadline.message.nextPollAt).toBe(acceptedAt + 3 * 3_600_000 + 5 * 60_000);
    const atDeadline = decide(scheduled, { kind: 'not_found', status: 404 }, acceptedAt + 8 * 86_400_000);
    expect(atDeadline.outcome.finished).toEqual({ at: acceptedAt + 8 * 86_400_000, reason: 'not_found' });
  });

  it('follows a scheduled send past maxAge once found, and gives it up at scheduledMaxAge', () => {
    const found = message({ state: 'Scheduled', scheduled: true, firstFoundAt: acceptedAt + 10_000 });
    const sentLate = decide(found, { kind: 'details', status: 200, details: details({ state: 'Processing' }) }, acceptedAt + 3 * 86_400_000);
    expect(sentLate.outcome.finished).toBeUndefined();
    const gone = decide(found, { kind: 'not_found', status: 404 }, acceptedAt + 8 * 86_400_000);
    expect(gone.outcome.finished?.reason).toBe('max_age');
  });

  it('maps outcome names beyond the per-target cap, and odd names, to Other', () => {
    const labeler = new OutcomeLabeler();
    for (let index = 0; index < 64; index += 1) labeler.labelFor('prod', `Name${index}`);
    const decision = decide(
      message({ state: 'Processing' }),
      {
        kind: 'details',
        status: 200,
        details: details({
          platforms: [
            {
              collection: 'ApnsOutcomeCounts',
              platform: 'apns',
              outcomes: [{ name: 'Name3', count: 1n }, { name: 'BrandNew', count: 2n }, { name: 'has spaces!', count: 4n }],
            },
          ],
        }),
      },
      acceptedAt + 10_000,
      labeler,
    );
    expect(decision.outcome.counterIncrements.map((increment) => [increment.labels.outcome, increment.value])).toEqual([
      ['Name3', 1],
      ['Other', 6],
    ]);
    // Last-seen counts keep the upstream names, so deltas stay exact per name.
    expect(decision.outcome.countUpdates.map((update) => update.outcome)).toEqual(['Name3', 'BrandNew', 'has spaces!']);
  });
});
