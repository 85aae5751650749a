import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness, intakeToken } from '../support/harness.js';

/**
 * The lookup a dashboard's exemplar link opens (README "From a spike to one notification"): a
 * browser cannot send a bearer token, so reads take the token as a Basic password and their 401
 * asks for one. Writes stay bearer-only.
 */

const target = 'orders-target';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('the lookup API from a browser', () => {
  let harness: Harness;
  let lookupUrl: string;
  beforeAll(async () => {
    harness = await Harness.start();
    expect((await harness.post({ target, notificationId: 'browser-1' })).status).toBe(202);
    lookupUrl = `${harness.exporter.url}/api/v1/notifications/${target}/browser-1`;
  });
  afterAll(async () => harness?.close());

  async function get(url: string, headers: Record<string, string> = {}) {
    const response = await request(url, { headers });
    const text = await response.body.text();
    return { status: response.statusCode, challenge: response.headers['www-authenticate'], json: JSON.parse(text) as Record<string, unknown> };
  }

  it('asks a browser for Basic credentials: a 401 to a read offers Bearer and Basic', async () => {
    const answer = await get(lookupUrl);
    expect(answer.status).toBe(401);
    expect(answer.challenge).toEqual(['Bearer', 'Basic realm="push-notification-exporter API token", charset="UTF-8"']);
    expect((await get(lookupUrl, { authorization: basic('me', 'wrong') })).status).toBe(401);
  });

  it('answers a read with the token as the Basic password, whatever the user name', async () => {
    for (const user of ['', 'operator']) {
      const answer = await get(lookupUrl, { authorization: basic(user, intakeToken) });
      expect(answer.status, user).toBe(200);
      expect(answer.json).toMatchObject({ target, notificationId: 'browser-1', state: 'Pending' });
    }
    const list = await get(`${harness.exporter.url}/api/v1/notifications?target=${target}`, { authorization: basic('operator', intakeToken) });
    expect(list.status).toBe(200);
  });

  it('keeps intake bearer-only: Basic credentials never store anything, and a 401 to a write offers Bearer alone', async () => {
    const response = await request(`${harness.exporter.url}/api/v1/notifications`, {
      method: 'POST',
      headers: { authorization: basic('operator', intakeToken), 'content-type': 'application/json' },
      body: JSON.stringify({ target, notificationId: 'browser-2' }),
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(await response.body.json()).toEqual({ error: 'missing bearer token' });
    expect((await harness.lookup(target, 'browser-2')).status).toBe(404);
  });
});
