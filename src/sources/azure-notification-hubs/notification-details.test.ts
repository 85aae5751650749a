import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NotificationDetailsParseError, parseNotificationDetails } from './notification-details.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const parseFixture = (name: string) => parseNotificationDetails(fixture(name));

describe('parseNotificationDetails', () => {
  it('reads the documented WNS example: state, timestamps with 7 fractional digits, outcomes', () => {
    const details = parseFixture('completed-wns-from-docs.xml');
    expect(details.state).toBe('Completed');
    expect(details.notificationId).toBe('5474405209883240424-0b51a9b0-3b7d-4c1b-a2c1-7f7c7f1c3b2a');
    expect(details.enqueueTime).toBe(Date.UTC(2015, 10, 2, 21, 19, 43));
    expect(details.startTime! - details.enqueueTime!).toBeCloseTo(992.6996, 3);
    expect(details.endTime! - details.startTime!).toBeCloseTo(1130.7571, 3);
    expect(details.targetPlatforms).toEqual(['windows']);
    expect(details.platforms).toEqual([
      {
        collection: 'WnsOutcomeCounts',
        platform: 'wns',
        outcomes: [
          { name: 'Success', count: 3n },
          { name: 'WrongToken', count: 1n },
        ],
      },
    ]);
    expect(details.pnsErrorDetailsUri).toContain('blob.core.windows.net');
  });

  it('never carries the notification body or tags into the result', () => {
    const text = JSON.stringify(parseFixture('completed-wns-from-docs.xml'), (_key, value: unknown) =>
      typeof value === 'bigint' ? value.toString() : value,
    );
    expect(text).not.toContain('Jane Doe');
    expect(text).not.toContain('123456');
    const unknown = JSON.stringify(parseFixture('unknown-future-state.xml'));
    expect(unknown).not.toContain('personal');
    expect(unknown).not.toContain('user:42');
  });

  it('matches prefixed elements by local name in any order, including empty collections', () => {
    const details = parseFixture('processing-multi-platform-prefixed.xml');
    expect(details.state).toBe('Processing');
    expect(details.notificationId).toBe('8157823562347898234-1');
    expect(details.targetPlatforms).toEqual(['apple', 'gcm']);
    expect(details.endTime).toBeUndefined();
    expect(details.startTime! - details.enqueueTime!).toBeCloseTo(1150, 6);
    const byPlatform = Object.fromEntries(details.platforms.map((p) => [p.platform, p.outcomes]));
    expect(byPlatform).toEqual({
      fcmv1: [
        { name: 'Success', count: 7n },
        { name: 'InvalidToken', count: 2n },
      ],
      apns: [
        { name: 'Success', count: 10n },
        { name: 'ExpiredChannel', count: 1n },
      ],
      xiaomi: [],
    });
  });

  it('accepts the SDK spelling Cancelled and treats .NET default dates and nil as absent', () => {
    const details = parseFixture('cancelled-sdk-spelling.xml');
    expect(details.state).toBe('Canceled');
    expect(details.reportedState).toBe('Cancelled');
    expect(details.enqueueTime).toBe(Date.UTC(2026, 2, 1, 10, 0, 0));
    expect(details.startTime).toBeUndefined();
    expect(details.endTime).toBeUndefined();
    expect(details.platforms).toEqual([{ collection: 'ApnsOutcomeCounts', platform: 'apns', outcomes: [] }]);
  });

  it('keeps 64-bit counts exact, sums repeated names and keeps unknown outcome names verbatim', () => {
    const details = parseFixture('abandoned-huge-counts-unknown-outcomes.xml');
    expect(details.state).toBe('Abandoned');
    const gcm = details.platforms.find((p) => p.platform === 'gcm');
    expect(gcm?.outcomes).toEqual([
      { name: 'AbandonedNotificationMessages', count: 9223372036854775807n },
      { name: 'TokenProviderUnreachable', count: 7n },
    ]);
    expect(details.platforms.find((p) => p.platform === 'browser')?.outcomes).toEqual([
      { name: 'Some Future Outcome!', count: 1n },
    ]);
    expect(details.endTime! - details.startTime!).toBe(30 * 60_000);
  });

  it('spells known outcome names canonically whatever their case, summing spellings, and keeps unknown names verbatim', () => {
    const apns = parseFixture('completed-outcome-names-in-other-cases.xml').platforms[0];
    expect(apns?.outcomes).toEqual([
      { name: 'Success', count: 6n },
      { name: 'WrongToken', count: 2n },
      { name: 'TokenProviderUnreachable', count: 1n },
      // Not a known name: two spellings, two outcomes, as reported.
      { name: 'someFutureOutcome', count: 4n },
      { name: 'SomeFutureOutcome', count: 3n },
    ]);
  });

  it('reads a minimal document with only a State', () => {
    expect(parseFixture('enqueued-minimal.xml')).toEqual({
      notificationId: undefined,
      state: 'Enqueued',
      reportedState: 'Enqueued',
      enqueueTime: undefined,
      startTime: undefined,
      endTime: undefined,
      targetPlatforms: [],
      platforms: [],
      pnsErrorDetailsUri: undefined,
    });
  });

  it('maps an unrecognised state to Unknown and keeps what was reported', () => {
    const details = parseFixture('unknown-future-state.xml');
    expect(details.state).toBe('Unknown');
    expect(details.reportedState).toBe('Rerouting');
  });

  it.each([
    ['malformed-unclosed-element.xml', /malformed XML at line \d+, column \d+/],
    ['malformed-truncated.xml', /malformed XML/],
    ['entity-expansion-bomb.xml', /DOCTYPE or ENTITY declaration is refused/],
    ['negative-count.xml', /ApnsOutcomeCounts\/Outcome\[1\]\/Count is not a non-negative integer/],
    ['count-overflows-64-bits.xml', /Count exceeds a 64-bit integer/],
    ['missing-state.xml', /has no State element/],
    ['wrong-root-error-document.xml', /expected a NotificationDetails root element, found Error/],
  ])('refuses %s with an error that says what was wrong', (name, message) => {
    expect(() => parseFixture(name)).toThrow(NotificationDetailsParseError);
    expect(() => parseFixture(name)).toThrow(message);
  });

  it('refuses repeated outcome names whose sum exceeds 64 bits, and reserved element names', () => {
    const huge = '<Outcome><Name>Success</Name><Count>9223372036854775807</Count></Outcome>';
    expect(() => parseNotificationDetails(`<NotificationDetails><State>Completed</State><ApnsOutcomeCounts>${huge}${huge}</ApnsOutcomeCounts></NotificationDetails>`)).toThrow(
      /ApnsOutcomeCounts counts for Success exceed a 64-bit integer/,
    );
    expect(() => parseNotificationDetails('<NotificationDetails><State>Completed</State><__proto__>x</__proto__></NotificationDetails>')).toThrow(
      NotificationDetailsParseError,
    );
  });

  it('refuses an empty body and a repeated State', () => {
    expect(() => parseNotificationDetails('')).toThrow(NotificationDetailsParseError);
    expect(() =>
      parseNotificationDetails('<NotificationDetails><State>Completed</State><State>Abandoned</State></NotificationDetails>'),
    ).toThrow(/State appears more than once/);
  });
});
