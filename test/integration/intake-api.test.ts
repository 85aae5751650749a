import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { SqliteStorage } from '../../src/tracking/sqlite/sqlite-storage.js';
import { Harness, intakeToken } from '../support/harness.js';
import { sumOf } from '../support/prometheus-text.js';

const target = 'orders-target';

/** POSTs the bodies to the intake pipelined on one connection, in one write; answers in order. */
async function pipelined(url: URL, bodies: string[]): Promise<{ status: number; json: unknown }[]> {
  const requests = bodies.map(
    (body) =>
      `POST /api/v1/notifications HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${intakeToken}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  const socket = connect(Number(url.port), url.hostname);
  let received = '';
  const answers: { status: number; json: unknown }[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      for (;;) {
        const headerEnd = received.indexOf('\r\n\r\n');
        if (headerEnd < 0) break;
        const head = received.slice(0, headerEnd);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (received.length < headerEnd + 4 + length) break;
        answers.push({ status: Number(head.split(' ')[1]), json: JSON.parse(received.slice(headerEnd + 4, headerEnd + 4 + length)) });
        received = received.slice(headerEnd + 4 + length);
      }
      if (answers.length === bodies.length) resolve();
    });
    socket.write(requests.join(''));
  });
  socket.destroy();
  return answers;
}

describe('intake API', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await Harness.start({ hubs: ['orders', 'billing'], hubSettings: {} });
  });
  afterAll(async () => harness?.close());

  async function acceptedCount(): Promise<number> {
    return sumOf(await harness.scrape(), 'push_notification_intake_notifications_total', { result: 'accepted' });
  }

  const longId = 'x'.repeat(257);
  it.each([
    ['malformed JSON', '{"target": "orders-target", ', 400, /not valid JSON/],
    ['a JSON scalar', '"just a string"', 400, /not valid JSON/],
    ['an empty array', [], 400, /array is empty/],
    ['an unknown target', { target: 'nope', notificationId: 'id-1' }, 400, /unknown target "nope"/],
    ['a foreign location host', { location: 'https://evil.servicebus.windows.net/orders/messages/1?api-version=2020-06' }, 400, /not the namespace of any configured target/],
    ['a location on an unconfigured hub', { location: 'https://contoso.servicebus.windows.net/other/messages/1' }, 400, /hub is not configured/],
    ['a location that is not a URL', { location: 'not a url' }, 400, /not a URL/],
    ['a location with the wrong path', { location: 'https://contoso.servicebus.windows.net/orders/1' }, 400, /path must be/],
    ['a location for another target', { target: 'billing-target', location: 'https://contoso.servicebus.windows.net/orders/messages/1' }, 400, /does not belong to target "billing-target"/],
    ['an empty ID', { target, notificationId: '' }, 400, /notificationId is empty/],
    ['an over-long ID', { target, notificationId: longId }, 400, /longer than 256/],
    ['an ID with a slash', { target, notificationId: '../../admin' }, 400, /printable ASCII/],
    ['an ID with control characters', { target, notificationId: 'a\u0000b' }, 400, /printable ASCII/],
    ['an ID that is a number', { target, notificationId: 42 }, 400, /notificationId must be a string/],
    ['an unknown field', { target, notificationId: 'a', tags: 'x' }, 400, /unknown field "tags"/],
    ['both an ID and a location', { target, notificationId: 'a', location: 'https://contoso.servicebus.windows.net/orders/messages/1' }, 400, /either notificationId or location/],
    ['a missing target', { notificationId: 'a' }, 400, /target is required/],
    ['too many items', Array.from({ length: 1001 }, (_, index) => ({ target, notificationId: `id-${index}` })), 400, /too many items: 1001/],
  ])('refuses %s with a clear 4xx and stores nothing', async (_name, body, status, message) => {
    const before = await acceptedCount();
    const response = await harness.post(body);
    expect(response.status).toBe(status);
    expect(JSON.stringify(response.json).replace(/\\"/g, '"')).toMatch(message);
    expect(await acceptedCount()).toBe(before);
  });

  it('is all-or-nothing: one bad item rejects the batch, with an error per bad item', async () => {
    const before = await acceptedCount();
    const response = await harness.post([
      { target, notificationId: 'good-1' },
      { target: 'nope', notificationId: 'bad-1' },
      { target, notificationId: 'good-2' },
      { target, notificationId: '' },
    ]);
    expect(response).toEqual({
      status: 400,
      json: {
        error: '2 of 4 items are invalid; nothing was stored',
        items: [
          { index: 1, error: 'unknown target "nope"' },
          { index: 3, error: 'notificationId is empty' },
        ],
      },
    });
    expect(await acceptedCount()).toBe(before);
    expect((await harness.lookup(target, 'good-1')).status).toBe(404);
  });

  it('answers 415 to a body that is not JSON and 413 to one that is too large', async () => {
    const notJson = await harness.post('target=orders', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(notJson.status).toBe(415);
    expect(notJson.json).toEqual({ error: 'Content-Type must be application/json' });
    const huge = await harness.post(JSON.stringify([{ target, notificationId: 'a'.repeat(2_000_000) }]));
    expect(huge.status).toBe(413);
    expect(huge.json).toEqual({ error: 'request body is too large' });
  });

  it('counts refused items as rejected, including bodies that are not JSON', async () => {
    const rejected = async () => sumOf(await harness.scrape(), 'push_notification_intake_notifications_total', { result: 'rejected' });
    const before = await rejected();
    await harness.post('{not json');
    await harness.post([{ target: 'nope', notificationId: 'a' }, { target, notificationId: 'b' }]);
    expect(await rejected()).toBe(before + 3);
  });

  it.each([
    ['no token', {}, 401, 'missing bearer token'],
    ['a wrong token', { authorization: 'Bearer not-the-token' }, 401, 'invalid bearer token'],
    ['another scheme', { authorization: `Basic ${intakeToken}` }, 401, 'missing bearer token'],
  ])('refuses %s with 401', async (_name, headers, status, error) => {
    const response = await request(`${harness.exporter.url}/api/v1/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ target, notificationId: 'auth-test' }),
    });
    expect(response.statusCode).toBe(status);
    expect(await response.body.json()).toEqual({ error });
    expect((await harness.lookup(target, 'auth-test')).status).toBe(404);
  });

  it('refuses a token in the query string', async () => {
    const response = await request(`${harness.exporter.url}/api/v1/notifications/${target}/x?access_token=${intakeToken}`);
    expect(response.statusCode).toBe(401);
    expect(await response.body.json()).toEqual({ error: 'tokens are not accepted in the query string; use the Authorization header' });
  });

  it('accepts a location on a second hub, resolving the target by namespace and hub', async () => {
    const response = await harness.post({ location: 'https://CONTOSO.servicebus.windows.net/billing/messages/5555-abc?api-version=2020-06' });
    expect(response).toEqual({ status: 202, json: { accepted: 1, duplicates: 0 } });
    const lookup = await harness.lookup('billing-target', '5555-abc');
    expect(lookup.status).toBe(200);
    expect(lookup.json).toMatchObject({ target: 'billing-target', notificationId: '5555-abc', state: 'Pending', attempts: 0 });
  });

  it('counts duplicates within one batch and against stored IDs', async () => {
    const response = await harness.post([
      { target, notificationId: 'dup-1' },
      { target, notificationId: 'dup-1' },
      { target, notificationId: 'dup-2' },
    ]);
    expect(response).toEqual({ status: 202, json: { accepted: 2, duplicates: 1 } });
    expect(await harness.post({ target, notificationId: 'dup-2' })).toEqual({ status: 202, json: { accepted: 0, duplicates: 1 } });
  });

  it('answers requests that arrive together from one group commit, each its own answer, a repeated ID accepted once', async () => {
    const store = harness.exporter.store;
    if (!(store instanceof SqliteStorage)) throw new Error('this test runs on the SQLite backend');
    const bodies = [
      { target, notificationId: 'group-1' },
      { target, notificationId: 'group-2' },
      { target, notificationId: 'group-1' },
      [{ target, notificationId: 'group-3' }, { target, notificationId: 'group-2' }],
      { target, notificationId: 'group-4' },
    ];
    const before = store.intakeTransactions;
    // Pipelined on one connection, in one write: the server reads them all in one turn of its event loop.
    const answers = await pipelined(new URL(harness.exporter.url), bodies.map((body) => JSON.stringify(body)));
    expect(answers).toEqual([
      { status: 202, json: { accepted: 1, duplicates: 0 } },
      { status: 202, json: { accepted: 1, duplicates: 0 } },
      { status: 202, json: { accepted: 0, duplicates: 1 } },
      { status: 202, json: { accepted: 1, duplicates: 1 } },
      { status: 202, json: { accepted: 1, duplicates: 0 } },
    ]);
    expect(store.intakeTransactions - before).toBe(1);
    for (const id of ['group-1', 'group-2', 'group-3', 'group-4']) expect((await harness.lookup(target, id)).status).toBe(200);
  });

  it('answers 404 with JSON for an unknown notification and unknown API paths', async () => {
    const lookup = await harness.lookup(target, 'never-submitted');
    expect(lookup).toEqual({ status: 404, json: { error: 'no such notification is tracked or recently finished' } });
    const unknown = await request(`${harness.exporter.url}/api/v1/nothing-here`, { headers: { authorization: `Bearer ${intakeToken}` } });
    expect(unknown.statusCode).toBe(404);
    expect(await unknown.body.json()).toEqual({ error: 'no such API endpoint' });
  });
});

describe('intake API without tokens configured', () => {
  it('answers 403 and stores nothing', async () => {
    const harness = await Harness.start({ apiTokens: [] });
    try {
      const response = await harness.post({ target, notificationId: 'x' });
      expect(response).toEqual({ status: 403, json: { error: 'the intake API is not configured: set server.apiTokens' } });
      expect(await harness.exporter.store.getNotification(target, 'x')).toBeUndefined();
    } finally {
      await harness.close();
    }
  });
});
