import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect } from 'node:tls';
import bcrypt from 'bcryptjs';
import { Agent, request, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { mainScript, requireBuild } from '../support/exporter-process.js';
import { percentile, round, writeFaultResults } from '../support/fault-results.js';
import { Harness, intakeToken } from '../support/harness.js';
import { parsePrometheusText, sumOf } from '../support/prometheus-text.js';
import { generateSelfSignedCertificate, type GeneratedCertificate } from '../support/tls.js';

/**
 * TLS and basic auth for the exporter's own endpoints from server.webConfigFile, in the Prometheus
 * exporter-toolkit format, with generated self-signed certificates: the same file an operator
 * already writes for node_exporter works here.
 */
const target = 'orders-target';
const password = 'correct horse battery staple';
const figures: Record<string, unknown> = {};

let folder: string;
let server: GeneratedCertificate;
let client: GeneratedCertificate;
let stranger: GeneratedCertificate;
let hash: string;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'pne-tls-'));
  mkdirSync(join(folder, 'web', 'certs'), { recursive: true });
  server = generateSelfSignedCertificate(join(folder, 'web', 'certs'), 'server', '127.0.0.1');
  client = generateSelfSignedCertificate(folder, 'client', 'prometheus-scraper');
  stranger = generateSelfSignedCertificate(folder, 'stranger', 'someone-else');
  hash = bcrypt.hashSync(password, 10);
});

afterAll(() => {
  writeFaultResults('transport-security', figures);
  rmSync(folder, { recursive: true, force: true });
});

function writeWebConfig(name: string, text: string): string {
  const path = join(folder, 'web', name);
  writeFileSync(path, text);
  return path;
}

const basic = (user: string, secret: string) => `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;

async function get(dispatcher: Dispatcher, url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const response = await request(url, { dispatcher, headers });
  return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
}

describe('TLS and basic auth from the web config', () => {
  let harness: Harness;
  let agent: Agent;
  let webConfigPath: string;

  beforeAll(async () => {
    // Relative paths resolve against the web config's folder, not the working directory.
    webConfigPath = writeWebConfig(
      'web.yml',
      [
        'tls_server_config:',
        '  cert_file: certs/server.crt',
        '  key_file: certs/server.key',
        'http_server_config:',
        '  headers:',
        '    X-Frame-Options: deny',
        '    X-Content-Type-Options: nosniff',
        '    Strict-Transport-Security: max-age=31536000',
        'basic_auth_users:',
        `  prometheus: ${hash}`,
      ].join('\n'),
    );
    harness = await Harness.start({ server: { webConfigFile: webConfigPath } });
    // The client trusts exactly this self-signed certificate: verification is real.
    agent = new Agent({ connect: { ca: server.cert } });
  });
  afterAll(async () => {
    await agent?.close();
    await harness?.close();
  });

  it('serves https only, with a verified certificate', async () => {
    expect(harness.exporter.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const plain = await request(harness.exporter.url.replace('https:', 'http:') + '/-/healthy').then(
      (response) => response.statusCode,
      (error: Error) => error.name,
    );
    expect(plain).not.toBe(200);
    const untrusting = await request(`${harness.exporter.url}/-/healthy`).then(
      (response) => response.statusCode,
      (error: Error & { code?: string }) => error.code ?? error.name,
    );
    expect(untrusting).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO/);
    // TLS 1.2 is the floor (exporter-toolkit's default): an older client cannot connect.
    const old = new Agent({ connect: { ca: server.cert, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' } });
    const outcome = await request(`${harness.exporter.url}/-/healthy`, { dispatcher: old }).then(
      (response) => response.statusCode,
      (error: Error) => error.name,
    );
    expect(outcome).not.toBe(200);
    await old.close();
  });

  it('keeps the health endpoints open for probes, with the configured headers', async () => {
    for (const path of ['/-/healthy', '/-/ready', '/-/HEALTHY', '/-/ready/']) {
      const response = await get(agent, `${harness.exporter.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers['x-frame-options']).toBe('deny');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['strict-transport-security']).toBe('max-age=31536000');
    }
  });

  it('requires basic auth on /metrics, the landing page and everything else (default deny)', async () => {
    const refusals: Record<string, number> = {};
    for (const path of ['/metrics', '/METRICS', '/metrics/', '/', '/nothing-here', '/%6detrics']) {
      for (const [name, headers] of Object.entries({
        none: {},
        'wrong password': { authorization: basic('prometheus', 'wrong') },
        'unknown user': { authorization: basic('grafana', password) },
        'user name in another case': { authorization: basic('Prometheus', password) },
        'empty password': { authorization: basic('prometheus', '') },
        'bearer token': { authorization: `Bearer ${intakeToken}` },
        'malformed basic': { authorization: 'Basic !!!' },
      } as Record<string, Record<string, string>>)) {
        const response = await get(agent, `${harness.exporter.url}${path}`, headers);
        expect(response.status, `${path} with ${name}`).toBe(401);
        expect(response.headers['www-authenticate']).toMatch(/^Basic realm="push-notification-exporter"/);
        expect(response.headers['x-frame-options']).toBe('deny');
        expect(response.text).not.toContain('push_notification');
        refusals[`${path} ${name}`] = response.status;
      }
    }
    const ok = await get(agent, `${harness.exporter.url}/metrics`, { authorization: basic('prometheus', password) });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('push_notification_exporter_build_info');
    expect((await get(agent, `${harness.exporter.url}/`, { authorization: basic('prometheus', password) })).status).toBe(200);
    const samples = parsePrometheusText(ok.text);
    expect(sumOf(samples, 'push_notification_http_requests_refused_total', { reason: 'unauthorized' })).toBe(Object.keys(refusals).length);
    figures.basicAuthRefusals = Object.keys(refusals).length;
  });

  it('keeps bearer tokens on /api (basic credentials do not grant intake), over TLS', async () => {
    const post = (headers: Record<string, string>) =>
      request(`${harness.exporter.url}/api/v1/notifications`, {
        dispatcher: agent,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ target, notificationId: 'over-tls' }),
      }).then(async (response) => ({ status: response.statusCode, json: await response.body.json() }));
    expect(await post({ authorization: basic('prometheus', password) })).toEqual({ status: 401, json: { error: 'missing bearer token' } });
    expect(await post({})).toEqual({ status: 401, json: { error: 'missing bearer token' } });
    expect(await post({ authorization: `Bearer ${intakeToken}` })).toEqual({ status: 202, json: { accepted: 1, duplicates: 0 } });
    const lookup = await get(agent, `${harness.exporter.url}/api/v1/notifications/${target}/over-tls`, { authorization: `Bearer ${intakeToken}` });
    expect(lookup.status).toBe(200);
  });

  it('pays for bcrypt once per credentials (cached), so scrapes stay cheap', async () => {
    // A fresh exporter: its first authenticated scrape runs bcrypt (cost 10), later ones hit the cache.
    const fresh = await Harness.start({ server: { webConfigFile: webConfigPath } });
    try {
      const timings: number[] = [];
      for (let index = 0; index < 30; index += 1) {
        const started = performance.now();
        expect((await get(agent, `${fresh.exporter.url}/metrics`, { authorization: basic('prometheus', password) })).status).toBe(200);
        timings.push(performance.now() - started);
      }
      const wrong: number[] = [];
      for (let index = 0; index < 3; index += 1) {
        const started = performance.now();
        expect((await get(agent, `${fresh.exporter.url}/metrics`, { authorization: basic('prometheus', `guess-${index}`) })).status).toBe(401);
        wrong.push(performance.now() - started);
      }
      figures.basicAuthScrapeMilliseconds = {
        bcryptCost: 10,
        firstScrape: round(timings[0] as number),
        laterScrapesP50: round(percentile(timings.slice(1), 0.5)),
        laterScrapesMax: round(Math.max(...timings.slice(1))),
        wrongPasswordP50: round(percentile(wrong, 0.5)),
      };
    } finally {
      await fresh.close();
    }
  });

  it('reloads users and certificates when the files change, and keeps the running config if the new one is invalid', async () => {
    const fingerprint = async (): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: Number(new URL(harness.exporter.url).port), rejectUnauthorized: false }, () => {
          resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
          socket.end();
        });
        socket.once('error', reject);
      });
    const before = await fingerprint();
    expect(before).toBe(new X509Certificate(server.cert).fingerprint256);

    // A broken file is refused; the running configuration keeps working.
    writeFileSync(webConfigPath, 'tls_server_config:\n  cert_file: certs/server.crt\n  key_file: certs/server.key\nbasic_auth_users:\n  prometheus: not-a-hash\n');
    expect(harness.exporter.reloadWebConfig()).toBe('refused');
    expect(harness.logLines.some((line) => line.msg === 'cannot reload the web config file; keeping the running one' && String(line.error).includes('basic_auth_users."prometheus": is not a bcrypt hash'))).toBe(true);
    expect((await get(agent, `${harness.exporter.url}/metrics`, { authorization: basic('prometheus', password) })).status).toBe(200);
    expect(JSON.stringify(harness.logLines)).not.toContain('not-a-hash');

    // Rotated certificate and a new password: picked up without a restart.
    const rotated = generateSelfSignedCertificate(join(folder, 'web', 'certs'), 'rotated', '127.0.0.1');
    const newHash = bcrypt.hashSync('a new password', 4);
    writeFileSync(webConfigPath, `tls_server_config:\n  cert_file: certs/rotated.crt\n  key_file: certs/rotated.key\nbasic_auth_users:\n  prometheus: ${newHash}\n`);
    expect(harness.exporter.reloadWebConfig()).toBe('reloaded');
    expect(await fingerprint()).toBe(new X509Certificate(rotated.cert).fingerprint256);
    const rotatedAgent = new Agent({ connect: { ca: rotated.cert } });
    expect((await get(rotatedAgent, `${harness.exporter.url}/metrics`, { authorization: basic('prometheus', password) })).status).toBe(401);
    expect((await get(rotatedAgent, `${harness.exporter.url}/metrics`, { authorization: basic('prometheus', 'a new password') })).status).toBe(200);
    expect(harness.exporter.reloadWebConfig()).toBe('unchanged');

    // Turning TLS off needs a restart: refused, TLS stays on.
    writeFileSync(webConfigPath, `basic_auth_users:\n  prometheus: ${newHash}\n`);
    expect(harness.exporter.reloadWebConfig()).toBe('refused');
    expect((await get(rotatedAgent, `${harness.exporter.url}/-/healthy`)).status).toBe(200);
    await rotatedAgent.close();
  });
});

describe('client certificates (client_auth_type RequireAndVerifyClientCert)', () => {
  it('lets in only clients with a certificate signed by client_ca_file', async () => {
    const webConfig = writeWebConfig(
      'mtls.yml',
      [
        'tls_server_config:',
        `  cert_file: ${join(folder, 'web', 'certs', 'server.crt')}`,
        `  key_file: ${join(folder, 'web', 'certs', 'server.key')}`,
        '  client_auth_type: RequireAndVerifyClientCert',
        `  client_ca_file: ${client.certFile}`,
        '  min_version: TLS13',
      ].join('\n'),
    );
    const harness = await Harness.start({ server: { webConfigFile: webConfig } });
    const withCertificate = new Agent({ connect: { ca: server.cert, cert: client.cert, key: client.key } });
    const withoutCertificate = new Agent({ connect: { ca: server.cert } });
    const withStranger = new Agent({ connect: { ca: server.cert, cert: stranger.cert, key: stranger.key } });
    try {
      expect((await get(withCertificate, `${harness.exporter.url}/metrics`)).status).toBe(200);
      for (const [name, agent] of [['no certificate', withoutCertificate], ['an untrusted certificate', withStranger]] as const) {
        const outcome = await request(`${harness.exporter.url}/-/healthy`, { dispatcher: agent }).then(
          (response) => response.statusCode,
          (error: Error) => error.name,
        );
        expect(outcome, name).not.toBe(200);
      }
    } finally {
      await Promise.all([withCertificate.close(), withoutCertificate.close(), withStranger.close()]);
      await harness.close();
    }
  });
});

describe('the other client certificate policies', () => {
  it.each([
    // [policy, with a trusted certificate, with none, with an untrusted one]
    ['VerifyClientCertIfGiven', true, true, false],
    ['RequireAnyClientCert', true, false, true],
    ['RequestClientCert', true, true, true],
  ] as const)('%s', async (policy, trusted, none, untrusted) => {
    const caLine = policy === 'VerifyClientCertIfGiven' ? `  client_ca_file: ${client.certFile}\n` : '';
    const webConfig = writeWebConfig(
      `${policy}.yml`,
      `tls_server_config:\n  cert_file: certs/server.crt\n  key_file: certs/server.key\n  client_auth_type: ${policy}\n${caLine}`,
    );
    const harness = await Harness.start({ server: { webConfigFile: webConfig } });
    const agents = {
      trusted: new Agent({ connect: { ca: server.cert, cert: client.cert, key: client.key } }),
      none: new Agent({ connect: { ca: server.cert } }),
      untrusted: new Agent({ connect: { ca: server.cert, cert: stranger.cert, key: stranger.key } }),
    };
    try {
      const served = async (agent: Agent) =>
        request(`${harness.exporter.url}/-/healthy`, { dispatcher: agent }).then(
          async (response) => {
            await response.body.dump();
            return response.statusCode === 200;
          },
          () => false,
        );
      expect({ trusted: await served(agents.trusted), none: await served(agents.none), untrusted: await served(agents.untrusted) }).toEqual({ trusted, none, untrusted });
    } finally {
      await Promise.all(Object.values(agents).map((agent) => agent.close()));
      await harness.close();
    }
  });
});

describe('web config errors name the key, at start', () => {
  function problemsOf(webConfigText: string): string[] {
    const path = writeWebConfig(`bad-${createHash('sha1').update(webConfigText).digest('hex').slice(0, 8)}.yml`, webConfigText);
    try {
      parseConfig(JSON.stringify({ server: { webConfigFile: path } }));
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    throw new Error('expected a ConfigError');
  }

  it.each([
    ['an unknown key', 'tls_server_config:\n  cert_file: certs/server.crt\n  key_file: certs/server.key\n  colour: blue\n', /: tls_server_config\.colour: unknown key$/],
    ['an unknown top-level key', 'basic_auth:\n  a: b\n', /: basic_auth: unknown key$/],
    ['a key this exporter does not implement', 'tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n', /: tls_server_config\.cipher_suites: is not supported by this exporter/],
    ['rate_limit (use server.intakeRateLimit)', 'rate_limit:\n  interval: 1s\n', /: rate_limit: is not supported in the web config; use server\.intakeRateLimit/],
    ['a plain-text password', 'basic_auth_users:\n  alice: hunter2-plain-text\n', /: basic_auth_users\."alice": is not a bcrypt hash/],
    ['a user name with a colon', `basic_auth_users:\n  "a:b": "${'$2b$10$' + 'a'.repeat(53)}"\n`, /: basic_auth_users\."a:b": a user name must be/],
    ['a missing certificate file', 'tls_server_config:\n  cert_file: certs/nope.crt\n  key_file: certs/server.key\n', /: tls_server_config\.cert_file: cannot read .*certs\/nope\.crt: ENOENT$/],
    ['a key without a certificate', 'tls_server_config:\n  key_file: certs/server.key\n', /: tls_server_config\.cert_file: is required with key_file$/],
    ['a key that does not match the certificate', () => `tls_server_config:\n  cert_file: certs/server.crt\n  key_file: ${client.keyFile}\n`, /: tls_server_config\.cert_file: the certificate, key or CA cannot be used/],
    ['a file and an inline value at once', 'tls_server_config:\n  cert_file: certs/server.crt\n  cert: "x"\n  key_file: certs/server.key\n', /: tls_server_config\.cert_file: give either cert_file or cert, not both$/],
    ['client verification without a CA', 'tls_server_config:\n  cert_file: certs/server.crt\n  key_file: certs/server.key\n  client_auth_type: RequireAndVerifyClientCert\n', /: tls_server_config\.client_ca_file: is required with client_auth_type RequireAndVerifyClientCert$/],
    ['an unknown client_auth_type', 'tls_server_config:\n  cert_file: certs/server.crt\n  key_file: certs/server.key\n  client_auth_type: Sometimes\n', /: tls_server_config\.client_auth_type: must be one of/],
    ['min_version above max_version', 'tls_server_config:\n  cert_file: certs/server.crt\n  key_file: certs/server.key\n  min_version: TLS13\n  max_version: TLS12\n', /: tls_server_config\.min_version: is higher than max_version$/],
    ['a TLS version Go would not know', 'tls_server_config:\n  cert_file: certs/server.crt\n  key_file: certs/server.key\n  min_version: SSL3\n', /: tls_server_config\.min_version: must be one of TLS10, TLS11, TLS12, TLS13$/],
    ['a header that cannot be configured', 'http_server_config:\n  headers:\n    Set-Cookie: a=b\n', /: http_server_config\.headers\.Set-Cookie: this header can not be configured/],
    ['a bad X-Frame-Options', 'http_server_config:\n  headers:\n    X-Frame-Options: allow-from evil\n', /: http_server_config\.headers\.X-Frame-Options: must be one of deny, sameorigin$/],
    ['YAML syntax errors', 'tls_server_config: [\n', /: YAML: /],
  ])('names the key for %s', (_name, text: string | (() => string), message) => {
    const problems = problemsOf(typeof text === 'function' ? text() : text);
    expect(problems.every((problem) => problem.startsWith('server.webConfigFile (')), problems.join('\n')).toBe(true);
    expect(problems.some((problem) => message.test(problem)), problems.join('\n')).toBe(true);
    expect(problems.join('\n')).not.toContain('hunter2');
    expect(problems.join('\n')).not.toContain('PRIVATE KEY');
  });

  it('names a missing web config file', () => {
    expect(() => parseConfig(JSON.stringify({ server: { webConfigFile: join(folder, 'missing.yml') } }))).toThrow(
      /server\.webConfigFile \(.*missing\.yml\): cannot read .*missing\.yml: ENOENT/,
    );
  });

  it('accepts an empty file (nothing enabled), as exporter-toolkit does', () => {
    const path = writeWebConfig('empty.yml', '');
    const config = parseConfig(JSON.stringify({ server: { webConfigFile: path } }));
    expect(config.server.web?.tls).toBeUndefined();
    expect(config.server.web?.basicAuthUsers.size).toBe(0);
  });

  it('is checked by --check-config, with exit code 2 and no secret in the output', () => {
    requireBuild();
    const path = writeWebConfig('check.yml', `tls_server_config:\n  cert_file: certs/server.crt\nbasic_auth_users:\n  alice: hunter2-plain-text\n`);
    const configPath = join(folder, 'check-config.yaml');
    writeFileSync(configPath, `server:\n  webConfigFile: "${path}"\n`);
    const result = spawnSync(process.execPath, [mainScript, '--config', configPath, '--check-config'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`server.webConfigFile (${path}): tls_server_config.key_file: is required with cert_file`);
    expect(result.stderr).toContain(`server.webConfigFile (${path}): basic_auth_users."alice": is not a bcrypt hash`);
    expect(result.stderr + result.stdout).not.toContain('hunter2');
  });
});
