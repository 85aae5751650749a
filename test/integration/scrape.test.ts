import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness } from '../support/harness.js';

/** The exporter's own lines: process metrics move between two scrapes, these do not. */
function exporterLines(text: string): string {
  return text
    .split('\n')
    .filter((line) => line.includes('push_notification_'))
    .join('\n');
}

describe('/metrics content negotiation', () => {
  let harness: Harness;
  const scrape = async (headers: Record<string, string>) => {
    const response = await request(`${harness.exporter.url}/metrics`, { headers });
    const body = Buffer.from(await response.body.arrayBuffer());
    return { status: response.statusCode, headers: response.headers, body };
  };

  beforeAll(async () => {
    harness = await Harness.start();
    const id = harness.simulator.createMessage('orders', {
      notReadyMilliseconds: 1_000,
      enqueuedMilliseconds: 500,
      processingMilliseconds: 1_000,
      finalState: 'Completed',
      outcomes: { ApnsOutcomeCounts: { Success: 5, WrongToken: 1 } },
    });
    await harness.post({ target: 'orders-target', notificationId: id });
    await harness.advance(20_000);
  });
  afterAll(async () => harness.close());

  it('answers gzip to a scraper that offers it, and the same text uncompressed otherwise', async () => {
    const plain = await scrape({});
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(String(plain.headers.vary)).toMatch(/Accept-Encoding/);
    const zipped = await scrape({ 'accept-encoding': 'gzip' });
    expect(zipped.status).toBe(200);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(String(zipped.headers.vary)).toMatch(/Accept-Encoding/);
    expect(Number(zipped.headers['content-length'])).toBe(zipped.body.length);
    expect(zipped.body.length).toBeLessThan(plain.body.length);
    const unzipped = gunzipSync(zipped.body).toString('utf8');
    expect(exporterLines(unzipped)).toBe(exporterLines(plain.body.toString('utf8')));
    expect(unzipped).toContain('push_notification_outcomes_total{');
  });

  it('answers gzip with the OpenMetrics format too, as Prometheus asks for both', async () => {
    const zipped = await scrape({
      accept: 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      'accept-encoding': 'gzip',
    });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(zipped.body).toString('utf8').endsWith('# EOF\n')).toBe(true);
  });

  it.each([
    ['gzip;q=0', undefined],
    ['br', undefined],
    ['deflate, gzip;q=0.5', 'gzip'],
    ['*', 'gzip'],
  ])('Accept-Encoding %s gives %s', async (acceptEncoding, expected) => {
    expect((await scrape({ 'accept-encoding': acceptEncoding })).headers['content-encoding']).toBe(expected);
  });

  it.each([
    // Prometheus 2.x's default scrape Accept header.
    ['application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', 'application/openmetrics-text; version=1.0.0; charset=utf-8'],
    // Prometheus 3's.
    [
      'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
      'application/openmetrics-text; version=1.0.0; charset=utf-8',
    ],
    // A scraper that speaks only the 0.0.1 draft gets the version it asked for.
    ['application/openmetrics-text;version=0.0.1', 'application/openmetrics-text; version=0.0.1; charset=utf-8'],
    ['application/openmetrics-text; version=0.0.1, application/openmetrics-text; version=1.0.0; q=0.5', 'application/openmetrics-text; version=0.0.1; charset=utf-8'],
    ['application/openmetrics-text', 'application/openmetrics-text; version=1.0.0; charset=utf-8'],
    // A version it cannot write is skipped for the next choice.
    ['application/openmetrics-text;version=2.0.0,text/plain;version=0.0.4;q=0.5', 'text/plain; version=0.0.4; charset=utf-8'],
    ['text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.1', 'text/plain; version=0.0.4; charset=utf-8'],
    ['application/openmetrics-text;version=1.0.0;q=0,text/plain', 'text/plain; version=0.0.4; charset=utf-8'],
    ['application/json', 'text/plain; version=0.0.4; charset=utf-8'],
  ])('Accept %s is answered %s', async (accept, contentType) => {
    const answer = await scrape({ accept });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe(contentType);
    const text = answer.body.toString('utf8');
    expect(text.endsWith('# EOF\n')).toBe(contentType.startsWith('application/openmetrics-text'));
  });

  it('answers the text format without an Accept header', async () => {
    const answer = await scrape({});
    expect(answer.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});
