import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatLogfmt } from './logfmt.js';
import { createLogger, type LoggerOptions } from './logger.js';

/** A strict logfmt reader (the grammar of https://brandur.org/logfmt), to check lines round-trip. */
function parseLogfmt(line: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  const pattern = /([^\s="]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s"=\\]*))(?:\s|$)/gy;
  let match: RegExpExecArray | null;
  let consumed = 0;
  while ((match = pattern.exec(line)) !== null) {
    const quoted = match[2];
    pairs[match[1] as string] = quoted === undefined ? (match[3] as string) : (JSON.parse(`"${quoted}"`) as string);
    consumed = pattern.lastIndex;
  }
  if (consumed !== line.length) throw new Error(`not logfmt after ${consumed}: ${line}`);
  return pairs;
}

function captured(options: LoggerOptions = {}) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''));
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', ...options, destination }), lines };
}

describe('formatLogfmt', () => {
  it('writes bare words bare and quotes what would break a pair', () => {
    const line = formatLogfmt({
      ts: '2026-03-01T12:00:00.000Z',
      level: 'info',
      msg: 'exporter started',
      url: 'http://127.0.0.1:10130',
      empty: '',
      equals: 'a=b',
      quote: 'say "hi"',
      backslash: 'C:\\temp',
      newline: 'two\nlines',
      count: 3,
      ok: true,
      nothing: null,
    });
    expect(line).toBe(
      'ts=2026-03-01T12:00:00.000Z level=info msg="exporter started" url=http://127.0.0.1:10130 empty="" ' +
        'equals="a=b" quote="say \\"hi\\"" backslash="C:\\\\temp" newline="two\\nlines" count=3 ok=true nothing=null',
    );
    expect(parseLogfmt(line)).toMatchObject({ msg: 'exporter started', quote: 'say "hi"', backslash: 'C:\\temp', newline: 'two\nlines' });
  });

  it('puts the leading keys first, flattens objects and quotes arrays', () => {
    const line = formatLogfmt({ service: 's', msg: 'm', level: 'warn', summary: { WrongToken: 3, nested: { a: 1 } }, list: ['x', 'y'], 'bad key': 1 }, ['ts', 'level', 'msg']);
    expect(line).toBe('level=warn msg=m service=s summary.WrongToken=3 summary.nested.a=1 list="[\\"x\\",\\"y\\"]" bad_key=1');
    expect(parseLogfmt(line).list).toBe('["x","y"]');
  });

  it('escapes control characters so one record stays one line', () => {
    const line = formatLogfmt({ msg: 'bell\u0007tab\tcr\r' });
    expect(line).toBe('msg="bell\\u0007tab\\tcr\\r"');
    expect([...line].every((character) => character.charCodeAt(0) >= 0x20)).toBe(true);
  });
});

describe('createLogger', () => {
  it('writes logfmt lines with ts, level and msg first, secrets still redacted', () => {
    const { logger, lines } = captured({ format: 'logfmt' });
    logger.info({ url: 'http://0.0.0.0:10130', connectionString: 'Endpoint=sb://x/;SharedAccessKey=TOPSECRET' }, 'exporter started');
    logger.child({ source: 'everlive' }).warn({ detail: 'a "quoted" detail' }, 'upstream failed');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^ts=\d{4}-\d\d-\d\dT[^ ]+Z level=info msg="exporter started" service=push-notification-exporter /);
    expect(parseLogfmt(lines[0] as string)).toMatchObject({ url: 'http://0.0.0.0:10130', connectionString: '[redacted]' });
    expect(parseLogfmt(lines[1] as string)).toMatchObject({ level: 'warn', source: 'everlive', detail: 'a "quoted" detail' });
    expect(lines.join('\n')).not.toContain('TOPSECRET');
  });

  it('keeps JSON lines by default', () => {
    const { logger, lines } = captured();
    logger.info({ a: 1 }, 'hello');
    expect(JSON.parse(lines[0] as string)).toMatchObject({ level: 'info', msg: 'hello', a: 1 });
  });

  it('writes demoted messages at debug and reports each one', () => {
    const demoted: string[] = [];
    const { logger, lines } = captured({ level: 'info', demote: { messages: new Set(['notification finished with failures']), onDemoted: (message) => demoted.push(message) } });
    logger.child({ source: 'azure_notification_hubs' }).info({ failures: 3 }, 'notification finished with failures');
    logger.info('exporter started');
    expect(demoted).toEqual(['notification finished with failures']);
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['exporter started']);

    const verbose = captured({ level: 'debug', demote: { messages: new Set(['notification finished with failures']) } });
    verbose.logger.child({ source: 'azure_notification_hubs' }).info({ failures: 3 }, 'notification finished with failures');
    expect(JSON.parse(verbose.lines[0] as string)).toMatchObject({ level: 'debug', source: 'azure_notification_hubs', failures: 3 });
  });
});
