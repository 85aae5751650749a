import { describe, expect, it } from 'vitest';
import { parseNotificationDetails } from '../../sources/azure-notification-hubs/notification-details.js';
import { parsePnsFeedbackBlob } from '../../sources/azure-notification-hubs/pns-feedback.js';
import { snapshotAt, type MessagePlan, type PnsBlobEncoding } from './message-plan.js';
import { renderPnsFeedbackBlob } from './pns-feedback-blob.js';
import { renderNotificationDetails } from './render.js';

const plan: MessagePlan = {
  notReadyMilliseconds: 0,
  enqueuedMilliseconds: 10_000,
  processingMilliseconds: 10_000,
  finalState: 'Completed',
  outcomes: { ApnsOutcomeCounts: { Success: 3, WrongToken: 2 }, WnsOutcomeCounts: { ExpiredChannel: 1 } },
  errorDetails: { notReadyMilliseconds: 0 },
};

function render(scenario: MessagePlan, at: number): string {
  return renderNotificationDetails({ notificationId: 'id-1', location: 'sb://x/hub/messages/id-1', snapshot: snapshotAt(scenario, 0, at), plan: scenario, random: () => 0.5 });
}

describe('the simulated NotificationDetails', () => {
  it('serves no empty outcome collection while Enqueued unless the scenario asks for one', () => {
    const enqueued = render(plan, 1_000);
    expect(enqueued).toContain('<State>Enqueued</State>');
    expect(enqueued).not.toContain('OutcomeCounts');
    expect(enqueued).toContain('<TargetPlatforms>apple,wns</TargetPlatforms>');
    const asked = render({ ...plan, emptyCollections: true }, 1_000);
    expect(asked).toContain('<ApnsOutcomeCounts/>');
    expect(parseNotificationDetails(asked).platforms.map((platform) => platform.outcomes)).toEqual([[], []]);
  });
});

describe('the simulated PNS error-details blob', () => {
  it.each<PnsBlobEncoding>(['utf-16le-bom', 'utf-16be-bom', 'utf-16le', 'utf-16be', 'utf-8-bom', 'utf-8'])('is read whole by the exporter in %s', (encoding) => {
    const blob = renderPnsFeedbackBlob({ ...plan, errorDetails: { notReadyMilliseconds: 0, encoding } }, 'id-1');
    const parsed = parsePnsFeedbackBlob(blob);
    expect(parsed.invalid).toBe(0);
    expect(parsed.records.map((record) => `${record.platform}/${record.error}`)).toEqual(['apns/WrongToken', 'apns/WrongToken', 'wns/ExpiredChannel']);
  });

  it('is UTF-16LE with a BOM, every record declaring utf-16, unless a scenario says otherwise', () => {
    const blob = renderPnsFeedbackBlob(plan, 'id-1');
    expect([...blob.subarray(0, 4)]).toEqual([0xff, 0xfe, 0x3c, 0x00]);
    const text = blob.subarray(2).toString('utf16le');
    expect(text.match(/<\?xml version="1.0" encoding="utf-16"\?><PnsFeedback /g)).toHaveLength(3);
  });
});
