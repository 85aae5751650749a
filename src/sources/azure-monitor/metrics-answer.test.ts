import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { metricMeaning, metricsToRead } from './metric-names.js';
import { armErrorDetail, MetricsAnswerError, parseMetricDefinitions, parseMetricsAnswer } from './metrics-answer.js';
import { countSettledMinutes, planWindow } from './minutes.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8'));
const minute = (text: string) => Date.parse(`2026-03-01T${text}:00Z`);

describe('ARM metrics answers', () => {
  it('reads settled minutes per metric, in time order', () => {
    const series = parseMetricsAnswer(fixture('settled-minutes.json'));
    expect(series).toEqual([
      { name: 'outgoing.apns.success', points: [{ minute: minute('11:00'), total: 12 }, { minute: minute('11:01'), total: 0 }, { minute: minute('11:02'), total: 7 }] },
      { name: 'outgoing.wns.wrongtoken', points: [{ minute: minute('11:00'), total: 1 }, { minute: minute('11:01'), total: 2 }, { minute: minute('11:02'), total: 3 }] },
    ]);
  });

  it('keeps late minutes without a total as minutes with no value yet', () => {
    const [pushes] = parseMetricsAnswer(fixture('late-minutes-without-total.json'));
    expect(pushes).toEqual({
      name: 'notificationhub.pushes',
      points: [{ minute: minute('11:58'), total: 40 }, { minute: minute('11:59'), total: undefined }, { minute: minute('12:00'), total: undefined }],
    });
  });

  it('reads an empty timeseries as no points', () => {
    expect(parseMetricsAnswer(fixture('empty-timeseries.json'))).toEqual([{ name: 'outgoing.mpns.dropped', points: [] }]);
  });

  it('reports a per-metric error code without failing the other metrics', () => {
    const series = parseMetricsAnswer(fixture('metric-error-code-per-metric.json'));
    expect(series[0]).toEqual({ name: 'outgoing.gcm.success', error: 'Throttled' });
    expect(series[1]).toEqual({ name: 'outgoing.gcm.throttled', points: [{ minute: minute('11:00'), total: 5 }] });
  });

  it('refuses error documents and malformed totals with a clear error', () => {
    expect(() => parseMetricsAnswer(fixture('error-document-arm.json'))).toThrow(/AuthorizationFailed/);
    expect(() => parseMetricsAnswer(fixture('error-document-metrics-api.json'))).toThrow(MetricsAnswerError);
    expect(() => parseMetricsAnswer(fixture('malformed-total-not-a-number.json'))).toThrow(/total at .* is not a non-negative number/);
    expect(() => parseMetricsAnswer({ value: [{ name: { value: 'incoming' }, timeseries: [{ data: [{ timeStamp: '2026-03-01T11:00:30Z', total: 1 }] }] }] })).toThrow(/not on a minute/);
  });

  it('turns both ARM error shapes into a short detail', () => {
    expect(armErrorDetail(readFileSync(join(import.meta.dirname, 'fixtures', 'error-document-arm.json'), 'utf8'))).toMatch(/^AuthorizationFailed: The client/);
    expect(armErrorDetail(readFileSync(join(import.meta.dirname, 'fixtures', 'error-document-metrics-api.json'), 'utf8'))).toMatch(/^BadRequest: Failed to find/);
    expect(armErrorDetail('<html>proxy</html>')).toBeUndefined();
  });

  it('reads the names a hub defines and keeps those it can export', () => {
    const defined = parseMetricDefinitions(fixture('metric-definitions.json'));
    expect(metricsToRead(defined)).toEqual(['incoming', 'outgoing.allpns.success', 'outgoing.apns.invalidcredentials', 'outgoing.apns.success', 'scheduled.pending']);
  });
});

describe('metric meanings', () => {
  it('maps per-service outcomes to the per-message names, the rest to families of their own', () => {
    expect(metricMeaning('outgoing.apns.invalidcredentials')).toEqual({ kind: 'counter', family: 'push_notification_outcomes_total', labels: { platform: 'apns', outcome: 'InvalidCredentials' } });
    expect(metricMeaning('outgoing.wns.pnserror')).toMatchObject({ labels: { platform: 'wns', outcome: 'PnsError' } });
    expect(metricMeaning('outgoing.fcmv1.somethingnew')).toMatchObject({ labels: { platform: 'fcmv1', outcome: 'somethingnew' } });
    expect(metricMeaning('outgoing.allpns.success')).toEqual({ kind: 'counter', family: 'push_notification_hub_outgoing_total', labels: { result: 'success' } });
    expect(metricMeaning('scheduled.pending')).toEqual({ kind: 'gauge', family: 'push_notification_hub_scheduled_pending' });
    expect(metricMeaning('registration.all')).toBeUndefined();
    expect(metricMeaning('outgoing.baidu.success')).toBeUndefined();
  });
});

describe('settled minutes', () => {
  const settings = { settleDelayMilliseconds: 5 * 60_000, initialLookbackMilliseconds: 3_600_000 };

  it('counts each minute once, when it is older than settleDelay, and moves the cursor past it', () => {
    const names = ['outgoing.apns.success'];
    const now = minute('11:08') + 30_000;
    const window = planWindow(names, new Map([['outgoing.apns.success', minute('10:59')]]), { ...settings, now });
    expect(window).toMatchObject({ start: minute('11:00'), end: minute('11:09'), countBefore: minute('11:03'), behind: false });
    const series = parseMetricsAnswer(fixture('settled-minutes.json'));
    const first = countSettledMinutes(window, series, 'hub', 'azure_monitor');
    expect(first.increments).toEqual([{ family: 'push_notification_outcomes_total', labels: { source: 'azure_monitor', target: 'hub', platform: 'apns', outcome: 'Success' }, value: 19 }]);
    expect(first.cursors).toEqual(new Map([['outgoing.apns.success', minute('11:02')]]));
    // The same answer read again from the new cursor counts nothing.
    const again = planWindow(names, first.cursors, { ...settings, now });
    expect(countSettledMinutes(again, series, 'hub', 'azure_monitor').increments).toEqual([]);
  });

  it('leaves a late minute for a later read, and counts it then', () => {
    const names = ['notificationhub.pushes'];
    const now = minute('12:05') + 10_000;
    const window = planWindow(names, new Map([[names[0] as string, minute('11:57')]]), { ...settings, now });
    const read = countSettledMinutes(window, parseMetricsAnswer(fixture('late-minutes-without-total.json')), 'hub', 'azure_monitor');
    // 11:58 and 11:59 are settled (they ended 5 minutes ago or more; 11:59 had no value: 0); 12:00 is not.
    expect(read.cursors.get(names[0] as string)).toBe(minute('11:59'));
    expect(read.increments).toEqual([{ family: 'push_notification_hub_pushes_total', labels: { source: 'azure_monitor', target: 'hub' }, value: 40 }]);
  });

  it('catches up after an outage in bounded windows', () => {
    const names = ['incoming'];
    const now = minute('12:00');
    const window = planWindow(names, new Map([['incoming', now - 3 * 86_400_000]]), { ...settings, now });
    expect(window.end - window.start).toBe(6 * 3_600_000);
    expect(window.behind).toBe(true);
    expect(window.countBefore).toBe(window.end);
  });
});
