import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { Client, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { validateIntake } from '../../src/server/intake-validation.js';
import { seededRandom } from '../../src/simulator/random.js';
import { percentile, round, writeFaultResults } from '../support/fault-results.js';
import { Harness, intakeToken } from '../support/harness.js';
import { sumOf } from '../support/prometheus-text.js';

/**
 * Abuse of the intake and lookup APIs: thousands of random and malformed inputs, each of which must
 * get a 4xx with a JSON error, never a 500, never a stored item; authentication that cannot be
 * bypassed; and a per-client rate limit with a clear 429.
 */
const target = 'orders-target';
const random = seededRandom(4242);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const integer = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));

const figures: Record<string, unknown> = {};
afterAll(() => writeFaultResults('intake-abuse', figures));

/** Strings meant to break things: unicode, controls, traversal, injection, encodings, lengths. */
const nastyStrings = [
  '', ' ', '\u0000', 'a\u0000b', '\r\nSet-Cookie: pwned=1', 'id\nX-Injected: 1', '\t', '\u007f', '\u0085', '\u2028', '\u2029',
  '\u202eevil', 'zero\u200bwidth', '\ufeffbom', 'ünïcödé', '日本語', '😀', '\ud800', '\udfff', 'a'.repeat(257), 'b'.repeat(70_000),
  '../../etc/passwd', '..\\..\\windows\\win.ini', '%2e%2e%2fetc%2fpasswd', '..%2F..%2F', '/absolute', 'a/b', 'a?b', 'a#b', 'a%b', 'a\\b',
  '${jndi:ldap://x}', '<script>alert(1)</script>', "' OR 1=1 --", '"; DROP TABLE azure_messages; --', '{{7*7}}', '__proto__', 'constructor',
  'orders-target ', ' orders-target', 'ORDERS-TARGET', 'orders-target\u0000', 'null', 'undefined', 'NaN', '-1', '1e309',
];
const keys = ['target', 'notificationId', 'location', '__proto__', 'constructor', 'prototype', 'tags', 'Target', 'notificationID', '', ' target'];

/** encodeURIComponent, except that a lone surrogate becomes its (invalid UTF-8) CESU-8 bytes. */
function encodeAnything(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80';
  }
}

// Big bodies are made once: sending them is the test, not building them.
const gzipBomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
const tooManyItems = JSON.stringify(Array.from({ length: 4_000 }, (_, position) => ({ target, notificationId: `many-${position}` })));
const manyNumbers = `[${Array.from({ length: 150_000 }, () => '1').join(',')}]`;
const deepArrays = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
const deepObjects = `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`;
const longId = JSON.stringify([{ target, notificationId: 'x'.repeat(900_000) }]);
const overLimit = `[${Array.from({ length: 12_000 }, (_, position) => JSON.stringify({ target, notificationId: `big-${position}-${'z'.repeat(80)}` })).join(',')}]`;

function randomString(): string {
  if (random() < 0.5) return pick(nastyStrings);
  return Array.from({ length: integer(0, 40) }, () => String.fromCodePoint(pick([integer(0, 0x1f), integer(0x20, 0x7e), integer(0x80, 0x2fff), integer(0x1f600, 0x1f64f)]))).join('');
}

function randomValue(depth: number): unknown {
  const roll = random();
  if (depth > 4 || roll < 0.25) return pick([null, true, false, 0, -1, 1.5, 2 ** 64, -(2 ** 63), 1e308, Number.MAX_SAFE_INTEGER]);
  if (roll < 0.55) return randomString();
  if (roll < 0.75) return Array.from({ length: integer(0, 5) }, () => randomValue(depth + 1));
  return Object.fromEntries(Array.from({ length: integer(0, 4) }, () => [random() < 0.7 ? pick(keys) : randomString(), randomValue(depth + 1)]));
}

/** A valid item with one thing wrong. */
function brokenItem(): unknown {
  const valid: Record<string, unknown> = { target, notificationId: `id-${integer(0, 1e9)}` };
  switch (integer(0, 7)) {
    case 0:
      return { ...valid, notificationId: pick(nastyStrings.filter((text) => text.length === 0 || /[^\x21-\x7e]|[/?#%\\]/.test(text) || text.length > 256)) };
    case 1:
      return { ...valid, notificationId: randomValue(3) };
    case 2:
      return { ...valid, target: pick([randomString(), 5, null, [], {}, 'other-target']) };
    case 3:
      return { ...valid, [pick(keys.filter((key) => !['target', 'notificationId', 'location'].includes(key)))]: randomValue(2) };
    case 4:
      return { location: `https://contoso.servicebus.windows.net/orders/messages/${encodeAnything(pick(nastyStrings))}x/y` };
    case 5:
      return { location: pick(['https://evil.example/orders/messages/1', 'http://contoso.servicebus.windows.net/orders/messages/1', 'sb://contoso.servicebus.windows.net/', 'https://user:pw@contoso.servicebus.windows.net/orders/messages/1', 'javascript:alert(1)', `https://contoso.servicebus.windows.net/${'a'.repeat(3000)}`, 'https://contoso.servicebus.windows.net/orders/messages/%E0%A4%A']) };
    case 6:
      return { ...valid, location: 'https://contoso.servicebus.windows.net/orders/messages/1' };
    default:
      return { notificationId: valid.notificationId };
  }
}

interface FuzzCase {
  kind: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

function* fuzzBodies(count: number): Generator<FuzzCase> {
  for (let index = 0; index < count; index += 1) {
    const roll = index % 10;
    if (roll < 3) yield { kind: 'random JSON', body: JSON.stringify(randomValue(0)) ?? 'null' };
    else if (roll < 5) yield { kind: 'one broken item', body: JSON.stringify(brokenItem()) };
    else if (roll < 6) {
      const items: unknown[] = Array.from({ length: integer(1, 50) }, (_, position) => ({ target, notificationId: `batch-${index}-${position}` }));
      items.splice(integer(0, items.length), 0, brokenItem());
      yield { kind: 'batch with one broken item', body: JSON.stringify(items) };
    } else if (roll < 7) {
      const text = JSON.stringify([{ target, notificationId: `cut-${index}` }, brokenItem()]);
      const mangled = pick([
        () => text.slice(0, integer(1, text.length - 1)),
        () => text.replace(/"/g, "'"),
        () => `${text},`,
        () => `// comment\n${text}`,
        () => text.replace(/:/, ''),
        () => `\ufeff${text}`,
        () => text.replace(/\d/, 'NaN'),
        () => `{"target": "${target}", "notificationId": "x",}`,
        () => Array.from({ length: integer(1, 200) }, () => String.fromCharCode(integer(0, 255))).join(''),
      ])();
      yield { kind: 'malformed JSON text', body: mangled };
    } else if (roll < 8) {
      const shapes = [
        () => tooManyItems,
        () => JSON.stringify(Array.from({ length: integer(1001, 1100) }, (_, position) => ({ target, notificationId: `many-${position}` }))),
        () => manyNumbers,
        () => deepArrays,
        () => deepObjects,
        () => longId,
        () => JSON.stringify({ __proto__: { target, notificationId: 'polluted' } }).replace('{}', `{"__proto__":{"target":"${target}","notificationId":"polluted"}}`),
        () => `{"constructor":{"prototype":{"target":"${target}"}},"target":"${target}","notificationId":"proto"}`,
        () => '[]',
        () => '',
        () => ' ',
        () => 'null',
      ];
      yield { kind: 'huge, deep or empty', body: pick(shapes)() };
    } else if (roll < 9) {
      const body = JSON.stringify(brokenItem());
      yield pick<FuzzCase>([
        { kind: 'wrong content type', body, headers: { 'content-type': pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/jsonx', '']) } },
        { kind: 'wrong charset', body, headers: { 'content-type': pick(['application/json; charset=utf-16', 'application/json; charset=latin1', 'application/json; charset=nonsense']) } },
        { kind: 'bad content encoding', body, headers: { 'content-encoding': pick(['gzip', 'deflate', 'br', 'compress', 'x-unknown']) } },
        { kind: 'gzip bomb', body: gzipBomb, headers: { 'content-encoding': 'gzip' } },
        { kind: 'gzipped broken item', body: gzipSync(body), headers: { 'content-encoding': 'gzip' } },
      ]);
    } else {
      yield { kind: 'over the size limit', body: overLimit };
    }
  }
}

describe('intake abuse', () => {
  let harness: Harness;
  let targets: ReturnType<typeof parseConfig>['azureNotificationHubs'];

  beforeAll(async () => {
    // The limit would refuse most of these first; it is tested on its own below.
    harness = await Harness.start({ server: { intakeRateLimit: { requestsPerSecond: 0 } } });
    targets = parseConfig(harness.configYaml()).azureNotificationHubs;
  });
  afterAll(async () => harness?.close());

  function expectJsonError(status: number, contentType: unknown, text: string, context: string): void {
    expect(status, context).toBeGreaterThanOrEqual(400);
    expect(status, context).toBeLessThan(500);
    expect(String(contentType), context).toMatch(/^application\/json/);
    const json = JSON.parse(text) as { error?: unknown };
    expect(typeof json.error, context).toBe('string');
  }

  async function expectNothingStored(): Promise<void> {
    const samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_intake_notifications_total', { result: 'accepted' })).toBe(0);
    expect(await harness.exporter.store.listNotifications({ limit: 10 })).toEqual([]);
    expect(harness.logLines.filter((line) => line.level === 'error' || line.msg === 'request failed')).toEqual([]);
  }

  it('answers every malformed or invalid intake body with a JSON 4xx and stores nothing', async () => {
    const byKind = new Map<string, number>();
    const byStatus = new Map<number, number>();
    let skippedValid = 0;
    for (const fuzz of fuzzBodies(2_000)) {
      if (typeof fuzz.body === 'string' && !fuzz.headers) {
        // A generated body that happens to be valid is not abuse: skip it (it would rightly be accepted).
        try {
          if (validateIntake(JSON.parse(fuzz.body) as unknown, targets).ok) {
            skippedValid += 1;
            continue;
          }
        } catch {
          // not JSON: a fuzz case
        }
      }
      const response = await request(`${harness.exporter.url}/api/v1/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${intakeToken}`, 'content-type': 'application/json', ...fuzz.headers },
        body: fuzz.body,
      });
      const text = await response.body.text();
      expectJsonError(response.statusCode, response.headers['content-type'], text, `${fuzz.kind}: ${String(fuzz.body).slice(0, 120)}`);
      byKind.set(fuzz.kind, (byKind.get(fuzz.kind) ?? 0) + 1);
      byStatus.set(response.statusCode, (byStatus.get(response.statusCode) ?? 0) + 1);
    }
    // Prototype pollution through a parsed body would show here.
    expect(({} as Record<string, unknown>).target).toBeUndefined();
    await expectNothingStored();
    figures.intakeBodies = { sent: [...byKind.values()].reduce((a, b) => a + b, 0), skippedBecauseValid: skippedValid, byKind: Object.fromEntries(byKind), byStatus: Object.fromEntries(byStatus) };
  });

  it('answers every hostile lookup and list request with a JSON 4xx', async () => {
    const segments = [
      ...nastyStrings.filter((text) => text.length < 5_000).map(encodeAnything),
      '..', '.', '%2e%2e', '..%2f..%2fetc%2fpasswd', '%00', '%', '%E0%A4%A', '%ff%fe', '%C0%AF', '%252e%252e', 'a%0d%0aSet-Cookie:%20pwned=1', '%0aX-Injected:%201',
    ];
    const paths: string[] = [];
    for (let index = 0; index < 600; index += 1) paths.push(`/api/v1/notifications/${pick([...segments, target])}/${pick(segments)}`);
    for (const extra of ['/api/v1/notifications/../../metrics', '/api/v1/../../etc/passwd', '/api/v1/notifications/a/b/c', '/api/v1/notifications/' + 'a'.repeat(5_000) + '/b', '/api/v1//notifications', '/api/v2/notifications', '/api/v1/notifications/%2e%2e/%2e%2e']) paths.push(extra);
    const queries = ['limit=abc', 'limit=0', 'limit=501', 'limit=-1', 'limit=1e3', 'limit=1&limit=2', 'state[]=Pending', 'state=DROP', `target=${encodeURIComponent('../../')}`, 'cursor=!!!', `cursor=${Buffer.from('["x",1,2]').toString('base64url')}`, 'target=nope', 'state=%00', 'cursor=' + 'A'.repeat(10_000)];
    for (const query of queries) paths.push(`/api/v1/notifications?${query}`);

    const byStatus = new Map<number, number>();
    const rawClient = new Client(harness.exporter.url);
    for (const path of paths) {
      // Sent as written, through the low-level client: request() would resolve dot segments (.., %2e%2e).
      const response = await rawClient.request({ path, method: 'GET', headers: { authorization: `Bearer ${intakeToken}` } });
      const text = await response.body.text();
      expectJsonError(response.statusCode, response.headers['content-type'], text, path.slice(0, 200));
      expect(response.headers['set-cookie'], path).toBeUndefined();
      expect(response.headers['x-injected'], path).toBeUndefined();
      byStatus.set(response.statusCode, (byStatus.get(response.statusCode) ?? 0) + 1);
    }
    await rawClient.close();
    // Other methods on the API.
    for (const method of ['PUT', 'DELETE', 'PATCH'] as const) {
      const response = await request(`${harness.exporter.url}/api/v1/notifications`, { method, headers: { authorization: `Bearer ${intakeToken}` } });
      expectJsonError(response.statusCode, response.headers['content-type'], await response.body.text(), method);
      paths.push(method);
    }
    await expectNothingStored();
    figures.lookupAndListRequests = { sent: paths.length, byStatus: Object.fromEntries(byStatus) };
  });

  /** Sends raw bytes (what no well-behaved client library would send) and reads the whole answer. */
  async function raw(text: string | Buffer): Promise<{ status: number; headers: string; body: string }> {
    const socket = connect(Number(new URL(harness.exporter.url).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(text);
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      setTimeout(() => socket.end(), 2_000).unref();
    });
    const answer = Buffer.concat(chunks).toString('latin1');
    const [head = '', body = ''] = answer.split('\r\n\r\n');
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head, body };
  }

  it('answers malformed HTTP (header injection, smuggling, oversized headers) with a JSON 4xx', async () => {
    const auth = `Authorization: Bearer ${intakeToken}\r\n`;
    const body = JSON.stringify({ target, notificationId: 'smuggled' });
    const cases: [string, string][] = [
      ['CR inside a header value', `POST /api/v1/notifications HTTP/1.1\r\nHost: x\r\n${auth}X-A: a\rX-Injected: 1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`],
      ['NUL inside a header value', `GET /api/v1/notifications HTTP/1.1\r\nHost: x\r\n${auth}X-A: a\u0000b\r\n\r\n`],
      ['a header name with a space', `GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n`],
      ['CRLF injected into the request line', `GET /api/v1/notifications/x/y\r\nSet-Cookie: a=1 HTTP/1.1\r\nHost: x\r\n\r\n`],
      ['Content-Length and Transfer-Encoding (smuggling)', `POST /api/v1/notifications HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
      ['two different Content-Lengths', `POST /api/v1/notifications HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n${body}`],
      ['an invalid chunk size', `POST /api/v1/notifications HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${body}\r\n0\r\n\r\n`],
      ['obsolete line folding', `GET /api/v1/notifications HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n ${intakeToken}\r\n\r\n`],
      ['an oversized header block', `GET /api/v1/notifications HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`],
      ['not HTTP at all', `\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003 random TLS-looking bytes\r\n\r\n`],
      ['an unknown HTTP version', `GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n`],
    ];
    const results: Record<string, number> = {};
    for (const [name, text] of cases) {
      const answer = await raw(text);
      expect(answer.status, name).toBeGreaterThanOrEqual(400);
      expect(answer.status, name).toBeLessThan(500);
      expect(answer.headers, name).toMatch(/content-type: application\/json/i);
      expect(typeof (JSON.parse(answer.body) as { error?: unknown }).error, name).toBe('string');
      expect(answer.headers.toLowerCase(), name).not.toContain('set-cookie');
      expect(answer.headers.toLowerCase(), name).not.toContain('x-injected');
      results[name] = answer.status;
    }
    await expectNothingStored();
    figures.malformedHttp = results;
  });

  it('cannot be entered without the token: none, wrong, another scheme, or in the query string', async () => {
    const body = JSON.stringify({ target, notificationId: 'auth-abuse' });
    const attempts: [string, string, Record<string, string>][] = [
      ['no token', '/api/v1/notifications', {}],
      ['a wrong token', '/api/v1/notifications', { authorization: 'Bearer wrong-token' }],
      ['the token with one character changed', '/api/v1/notifications', { authorization: `Bearer ${intakeToken.slice(0, -1)}X` }],
      ['a prefix of the token', '/api/v1/notifications', { authorization: `Bearer ${intakeToken.slice(0, 10)}` }],
      ['the token plus a suffix', '/api/v1/notifications', { authorization: `Bearer ${intakeToken}x` }],
      // Reads take the token as a Basic password (a browser following an exemplar link): only the write is refused.
      ['the token as Basic credentials', '/api/v1/notifications', { authorization: `Basic ${Buffer.from(`user:${intakeToken}`).toString('base64')}` }],
      ['a wrong password in Basic credentials', '/api/v1/notifications', { authorization: `Basic ${Buffer.from('user:wrong-token').toString('base64')}` }],
      ['the token without a scheme', '/api/v1/notifications', { authorization: intakeToken }],
      ['the token in a custom header', '/api/v1/notifications', { 'x-api-token': intakeToken }],
      ['an empty bearer', '/api/v1/notifications', { authorization: 'Bearer ' }],
      ['token= in the query string', `/api/v1/notifications?token=${intakeToken}`, {}],
      ['access_token= in the query string', `/api/v1/notifications?access_token=${intakeToken}`, {}],
      ['apiToken= in the query string', `/api/v1/notifications?apiToken=${intakeToken}`, {}],
      ['a query-string token next to a valid header', `/api/v1/notifications?access_token=${intakeToken}`, { authorization: `Bearer ${intakeToken}` }],
    ];
    const results: Record<string, number> = {};
    for (const [name, path, headers] of attempts) {
      for (const method of name === 'the token as Basic credentials' ? (['POST'] as const) : (['POST', 'GET'] as const)) {
        const response = await request(`${harness.exporter.url}${path}`, {
          method,
          headers: { 'content-type': 'application/json', ...headers },
          body: method === 'POST' ? body : undefined,
        });
        const text = await response.body.text();
        expect(response.statusCode, `${name} (${method})`).toBe(401);
        expectJsonError(response.statusCode, response.headers['content-type'], text, name);
        results[`${name} (${method})`] = response.statusCode;
      }
    }
    expect((await harness.lookup(target, 'auth-abuse')).status).toBe(404);
    await expectNothingStored();

    // Timing: tokens are compared as SHA-256 digests with timingSafeEqual, so how much of a guess
    // matches changes nothing measurable. Figures only (wall-clock time is never asserted).
    const guesses = { 'first character wrong': `X${intakeToken.slice(1)}`, 'last character wrong': `${intakeToken.slice(0, -1)}X`, 'entirely different': 'z'.repeat(intakeToken.length) };
    const timings: Record<string, number[]> = Object.fromEntries(Object.keys(guesses).map((name) => [name, []]));
    for (let round = 0; round < 300; round += 1) {
      for (const [name, guess] of Object.entries(guesses)) {
        const started = performance.now();
        const response = await request(`${harness.exporter.url}/api/v1/notifications/x/y`, { headers: { authorization: `Bearer ${guess}` } });
        await response.body.dump();
        (timings[name] as number[]).push(performance.now() - started);
        expect(response.statusCode).toBe(401);
      }
    }
    figures.authentication = {
      refusedAttempts: Object.keys(results).length,
      results,
      wrongTokenLatencyMillisecondsMedian: Object.fromEntries(Object.entries(timings).map(([name, values]) => [name, round(percentile(values, 0.5), 3)])),
    };
  });
});

describe('per-client rate limit on the intake API', () => {
  it('answers 429 with Retry-After and a JSON error past the burst, counts it, and lets the client back in', async () => {
    const harness = await Harness.start({ server: { intakeRateLimit: { requestsPerSecond: 2, burst: 10 } } });
    try {
      const statuses: number[] = [];
      let refusal: { status: number; retryAfter: unknown; json: unknown } | undefined;
      for (let index = 0; index < 30; index += 1) {
        // Forged forwarding headers change nothing: the socket address is the client.
        const response = await request(`${harness.exporter.url}/api/v1/notifications`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${index % 3 === 0 ? 'wrong' : intakeToken}`,
            'content-type': 'application/json',
            'x-forwarded-for': `198.51.100.${index}`,
            'x-real-ip': `203.0.113.${index}`,
            forwarded: `for=192.0.2.${index}`,
          },
          body: JSON.stringify({ target, notificationId: `limited-${index}` }),
        });
        const text = await response.body.text();
        statuses.push(response.statusCode);
        if (response.statusCode === 429 && !refusal) refusal = { status: 429, retryAfter: response.headers['retry-after'], json: JSON.parse(text) };
      }
      // The first ten (the burst) are answered (202, or 401 for the wrong token: guesses count too);
      // at 2 per second, at most one or two more get through during the loop.
      expect(statuses.slice(0, 10).every((status) => status === 202 || status === 401)).toBe(true);
      const limited = statuses.filter((status) => status === 429).length;
      expect(limited).toBeGreaterThanOrEqual(15);
      expect(refusal?.retryAfter).toMatch(/^[1-9]\d*$/);
      expect(refusal?.json).toEqual({ error: expect.stringMatching(/too many requests from this client .*server\.intakeRateLimit.*retry after \d+ s/) as unknown });
      // Scrapes and probes are never limited.
      for (let index = 0; index < 20; index += 1) {
        expect((await request(`${harness.exporter.url}/metrics`)).statusCode).toBe(200);
        expect((await request(`${harness.exporter.url}/-/healthy`)).statusCode).toBe(200);
      }
      const samples = await harness.scrape();
      expect(sumOf(samples, 'push_notification_http_requests_refused_total', { reason: 'rate_limited' })).toBe(limited);
      // After Retry-After, the client is let in again.
      await new Promise((resolve) => setTimeout(resolve, Number(refusal?.retryAfter) * 1000 + 100));
      expect((await harness.post({ target, notificationId: 'after-the-wait' })).status).toBe(202);
      figures.rateLimit = { requestsPerSecond: 2, burst: 10, sent: statuses.length, limited, retryAfterSeconds: Number(refusal?.retryAfter) };
    } finally {
      await harness.close();
    }
  });

  it('keeps the documented defaults generous for a single sender (100 per second, bursts of 200)', async () => {
    const harness = await Harness.start();
    try {
      const statuses = await Promise.all(
        Array.from({ length: 150 }, (_, index) => harness.post({ target, notificationId: `burst-${index}` }).then((response) => response.status)),
      );
      expect(statuses.every((status) => status === 202)).toBe(true);
    } finally {
      await harness.close();
    }
  });
});
