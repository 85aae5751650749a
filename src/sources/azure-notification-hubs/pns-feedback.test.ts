import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parsePnsFeedback, redactHandle } from './pns-feedback.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/pns-feedback/${name}`, import.meta.url), 'utf8');

describe('parsePnsFeedback', () => {
  it('reads one record per line, with or without its own XML declaration, and redacts device tokens', () => {
    const { records, invalid } = parsePnsFeedback(fixture('mixed-platforms-with-declarations.xml'));
    expect(invalid).toBe(1);
    expect(records.map(({ platform, error }) => `${platform}/${error}`)).toEqual(['apple/WrongToken', 'windows/ExpiredChannel', 'fcmv1/InvalidToken']);
    expect(records[0]).toMatchObject({
      feedbackTime: '2026-03-01T10:00:05.1234567Z',
      registrationId: '8071483727431536155-1',
      notificationId: '5474405209883240424-1',
      pnsHandle: redactHandle('740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad'),
    });
    expect(records[0]?.pnsHandle).toMatch(/^sha256:[0-9a-f]{12}…78ad$/);
    expect(records[2]?.newPnsHandle).toMatch(/…0002$/);
    const text = JSON.stringify(records);
    for (const token of ['740f4707bebcf74f9b7c25d48e', 'AwYAAAB0c2VjcmV0', 'fcm-token-AAAA-secret', 'fcm-token-BBBB-secret']) {
      expect(text).not.toContain(token);
    }
  });

  it('gives the same record the same key, and different records different keys', () => {
    const first = parsePnsFeedback(fixture('mixed-platforms-with-declarations.xml')).records;
    const again = parsePnsFeedback(fixture('mixed-platforms-with-declarations.xml')).records;
    expect(again.map((record) => record.key)).toEqual(first.map((record) => record.key));
    expect(new Set(first.map((record) => record.key)).size).toBe(3);
  });

  it('refuses DOCTYPE and reads an empty blob as no records', () => {
    expect(parsePnsFeedback('<!DOCTYPE x [<!ENTITY a "b">]><PnsFeedback/>')).toEqual({ records: [], invalid: 1 });
    expect(parsePnsFeedback('')).toEqual({ records: [], invalid: 0 });
  });
});
