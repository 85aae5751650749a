import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fixtureDeviceTokens, fixtureFiles, fixtureInstallationId, fixtureText, writeFixtures } from './fixtures/pns-feedback/generate-fixtures.js';
import { parsePnsFeedback, parsePnsFeedbackBlob, redactHandle } from './pns-feedback.js';

const folder = new URL('./fixtures/pns-feedback/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, folder), 'utf8');
const fixtureBytes = (name: string) => readFileSync(new URL(name, folder));

if (process.env.UPDATE_FIXTURES === '1') writeFixtures(folder);

describe('parsePnsFeedback', () => {
  it('reads one record per line, with or without its own XML declaration, and redacts device tokens', () => {
    const { records, invalid } = parsePnsFeedback(fixture('mixed-platforms-with-declarations.xml'));
    // The record without NotificationSystemError, and the last line cut short: both counted, not dropped.
    expect(invalid).toBe(2);
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
    expect(parsePnsFeedback('\uFEFF\r\n  \n')).toEqual({ records: [], invalid: 0 });
  });

  it('reads the record after one cut short, and counts the cut one', () => {
    const good = '<PnsFeedback><NotificationSystemError>WrongToken</NotificationSystemError><Platform>apple</Platform></PnsFeedback>';
    const { records, invalid } = parsePnsFeedback(`<PnsFeedback><NotificationSystemError>Bro\n${good}\n<PnsFeedback><Platform>`);
    expect(records.map((record) => record.error)).toEqual(['WrongToken']);
    expect(invalid).toBe(2);
  });

  it('does not count markup beside readable records as lost records', () => {
    const good = '<PnsFeedback><NotificationSystemError>WrongToken</NotificationSystemError><Platform>apple</Platform></PnsFeedback>';
    expect(parsePnsFeedback(`<ArrayOfPnsFeedback xmlns="x">${good}${good}</ArrayOfPnsFeedback>`)).toMatchObject({ invalid: 0 });
  });
});

describe('parsePnsFeedbackBlob', () => {
  const expected = parsePnsFeedback(fixtureText);

  it('reads the fixture text as three records (the reference for every encoding)', () => {
    expect(expected.invalid).toBe(0);
    expect(expected.records.map(({ platform, error }) => `${platform}/${error}`)).toEqual(['apple/WrongToken', 'windows/ExpiredChannel', 'fcmv1/InvalidToken']);
    expect(expected.records[1]?.installationId).toBe(fixtureInstallationId);
  });

  it.each([
    ['utf-16le-with-bom.xml', 'utf-16le'],
    ['utf-16be-with-bom.xml', 'utf-16be'],
    ['utf-16le-without-bom.xml', 'utf-16le'],
    ['utf-16be-without-bom.xml', 'utf-16be'],
    ['utf-8-with-bom.xml', 'utf-8'],
  ])('reads %s exactly (as %s)', (name, encoding) => {
    const parsed = parsePnsFeedbackBlob(fixtureBytes(name));
    expect(parsed).toEqual({ ...expected, encoding });
    const text = JSON.stringify(parsed);
    for (const token of fixtureDeviceTokens) expect(text).not.toContain(token);
  });

  it('reads a UTF-8 blob whose records declare utf-16 (the declaration cannot be true of 8-bit bytes)', () => {
    expect(parsePnsFeedbackBlob(Buffer.from(fixtureText, 'utf8'))).toEqual({ ...expected, encoding: 'utf-8' });
  });

  it.each(['gzip-compressed-no-record.bin', 'proxy-error-page-no-record.html'])('counts %s, content without a record, as invalid', (name) => {
    expect(parsePnsFeedbackBlob(fixtureBytes(name))).toMatchObject({ records: [], invalid: 1 });
  });

  it('counts a UTF-32 blob (which Node cannot decode) as invalid rather than dropping it', () => {
    const utf32le = (text: string) => Buffer.concat([...text].map((character) => {
      const unit = Buffer.alloc(4);
      unit.writeUInt32LE(character.codePointAt(0) ?? 0);
      return unit;
    }));
    expect(parsePnsFeedbackBlob(Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), utf32le(fixtureText)]))).toMatchObject({ records: [], invalid: 1 });
    expect(parsePnsFeedbackBlob(utf32le(fixtureText).swap32())).toMatchObject({ records: [], invalid: 1 });
  });

  it('reads what precedes the cut of a UTF-16 blob cut at an odd byte, and counts the cut record', () => {
    const whole = fixtureBytes('utf-16le-with-bom.xml');
    const closing = Buffer.from('</PnsFeedback>', 'utf16le');
    const secondRecordEnds = whole.indexOf(closing, whole.indexOf(closing) + 1) + closing.length;
    // Into the third record, at an odd byte.
    const parsed = parsePnsFeedbackBlob(whole.subarray(0, secondRecordEnds + 301));
    expect(parsed.records.map((record) => record.error)).toEqual(['WrongToken', 'ExpiredChannel']);
    expect(parsed.invalid).toBe(1);
  });

  it('has the committed fixtures equal to what generate-fixtures.ts makes', () => {
    for (const [name, bytes] of Object.entries(fixtureFiles())) {
      // gzip output may differ between zlib builds: compare what it holds.
      if (name.endsWith('.bin')) expect(gunzipSync(fixtureBytes(name)).equals(gunzipSync(bytes))).toBe(true);
      else expect(fixtureBytes(name).equals(bytes), name).toBe(true);
    }
  });
});
