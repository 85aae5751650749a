import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EverlivePageError, parseNotificationsPage, platformName } from './feedback.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));

describe('parseNotificationsPage', () => {
  it('reads the seed document: per-platform feedback, Status and ModifiedAt', () => {
    const page = parseNotificationsPage(fixture('page-seed-example.json'));
    expect(page.count).toBe(1);
    expect(page.items).toEqual([
      {
        valid: true,
        notification: {
          id: '6ae4e1b0-5a6f-11e4-9c6a-3bd4f3a3f4a1',
          modifiedAt: Date.UTC(2014, 9, 24, 10, 16, 2, 456),
          status: 'Sent',
          feedback: [
            { platformKey: '1', sent: 0, failed: 0, deactivated: 0 },
            { platformKey: '2', sent: 0, failed: 0, deactivated: 0 },
            { platformKey: '3', sent: 0, failed: 0, deactivated: 0 },
            { platformKey: '4', sent: 8, failed: 1, deactivated: 0 },
          ],
        },
      },
    ]);
    expect(JSON.stringify(page)).not.toContain('Jane Doe');
  });

  it('reports each malformed item with a reason and keeps the valid ones', () => {
    const page = parseNotificationsPage(fixture('page-malformed-items-mixed-in.json'));
    expect(page.items.map((item) => (item.valid ? `ok:${item.notification.id}` : `${item.reason}:${item.id ?? '-'}`))).toEqual([
      'ok:ok-1',
      'missing_id:-',
      'missing_modified_at:no-date',
      'invalid_count:negative',
      'invalid_count:text-count',
      'invalid_platform:word-key',
      'invalid_feedback:feedback-array',
      'ok:no-feedback-yet',
      'missing_id:-',
    ]);
    const first = page.items[0];
    expect(first?.valid && first.notification.feedback).toEqual([
      { platformKey: '3', sent: 5, failed: 2, deactivated: 1 },
      { platformKey: '42', sent: 3, failed: 0, deactivated: 0 },
      { platformKey: '100', sent: 1, failed: 0, deactivated: 0 },
    ]);
    const noFeedback = page.items[7];
    expect(noFeedback?.valid && noFeedback.notification).toMatchObject({ status: '3', feedback: [] });
  });

  it('counts Feedback with top-level totals by its platform keys and ignores the totals', () => {
    const page = parseNotificationsPage(fixture('page-feedback-totals-beside-platforms.json'));
    expect(page.items.map((item) => item.valid && [item.notification.id, item.notification.feedback])).toEqual([
      [
        '6ae4e1b0-5a6f-11e4-9c6a-3bd4f3a3f4a1',
        [
          { platformKey: '1', sent: 0, failed: 0, deactivated: 0 },
          { platformKey: '2', sent: 0, failed: 0, deactivated: 0 },
          { platformKey: '3', sent: 2, failed: 0, deactivated: 1 },
          { platformKey: '4', sent: 8, failed: 1, deactivated: 0 },
        ],
      ],
      ['totals-before-platforms', [{ platformKey: '4', sent: 0, failed: 3, deactivated: 0 }]],
      // Totals with no platform key say nothing per platform: nothing to count (and nothing refused).
      ['totals-only', []],
      ['total-null', [{ platformKey: '3', sent: 1, failed: 0, deactivated: 0 }]],
    ]);
  });

  it('still refuses malformed totals and keys that are neither a platform nor a total, saying which', () => {
    const page = parseNotificationsPage(fixture('page-feedback-totals-malformed.json'));
    expect(page.items.map((item) => (item.valid ? `ok:${item.notification.id}` : [item.reason, item.id, item.detail]))).toEqual([
      ['invalid_count', 'total-is-text', 'Feedback.Failed (a total beside the platform keys) is not a non-negative integer'],
      ['invalid_count', 'total-is-negative', 'Feedback.Sent (a total beside the platform keys) is not a non-negative integer'],
      ['invalid_count', 'total-is-an-object', 'Feedback.Sent (a total beside the platform keys) is not a non-negative integer'],
      ['invalid_platform', 'lowercase-total', 'Feedback key "failed" is neither a platform number nor a total (Sent, Failed, Deactivated)'],
      ['invalid_platform', 'other-word-beside-totals', 'Feedback key "Total" is neither a platform number nor a total (Sent, Failed, Deactivated)'],
      ['invalid_feedback', 'platform-is-a-number', 'Feedback.4 is not an object'],
    ]);
  });

  it.each([[null], [[]], [{ Result: 'x' }], [{ message: 'Invalid master key', errorCode: 301 }]])('refuses the envelope %j', (body) => {
    expect(() => parseNotificationsPage(body)).toThrow(EverlivePageError);
  });
});

describe('platformName', () => {
  it.each([
    ['1', 'windowsphone'],
    ['2', 'windows'],
    ['3', 'android'],
    ['4', 'ios'],
    ['5', 'osx'],
    ['6', 'blackberry'],
    ['7', 'nokia'],
    ['100', 'unknown'],
    ['42', 'unknown_42'],
  ])('%s → %s', (key, name) => expect(platformName(key)).toBe(name));
});
