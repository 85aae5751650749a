import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EverliveSimulator } from '../../src/simulator/everlive/server.js';
import { NotificationHubsSimulator } from '../../src/simulator/notification-hubs/server.js';
import { seededRandom } from '../../src/simulator/random.js';
import { ExporterProcess, mainScript } from '../support/exporter-process.js';
import { writeFaultResults } from '../support/fault-results.js';
import { generateSelfSignedCertificate, type GeneratedCertificate } from '../support/tls.js';
import { waitFor } from '../support/wait.js';

/**
 * Every path of the exporter run with known secret values: config errors, start, intake, lookups,
 * listing, polling (good and bad credentials, error-details blobs), Everlive runs (good and bad
 * master key, delivery logs), basic auth failures, scrapes in both formats, shutdown. Then every log
 * line, metric, API answer, header and error message is searched for each secret, as written and in
 * the encodings a leak would take (base64, URL encoding, JSON escaping).
 */
const secrets = {
  hubKey: 'HubKey-S3cret-7f1c2e9a4b',
  wrongHubKey: 'WrongHubKey-S3cret-5d8e0a1f',
  everliveMasterKey: 'EverliveMaster-S3cret-c4a9e2',
  wrongEverliveMasterKey: 'WrongEverlive-S3cret-91b7d3',
  intakeToken: 'IntakeToken-S3cret-0a7c5f2e9d1b',
  secondIntakeToken: 'SecondToken-S3cret-6e2d8b4a',
  basicAuthPassword: 'BasicAuth-S3cret-passphrase',
  blobSignature: 'c2ltdWxhdGVkLWJsb2Itc2lnbmF0dXJl',
  deviceToken: 'SECRETDEVICETOKENVALUE',
  personalData: 'Jane Doe, your code is 424242',
} as const;

describe('secrets never leave the process', () => {
  let folder: string;
  let simulator: NotificationHubsSimulator;
  let everlive: EverliveSimulator;
  let certificate: GeneratedCertificate;
  let basicHash: string;
  /** Everything a user, an operator or an attacker could read. */
  const observed: { where: string; text: string }[] = [];

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'pne-secrets-'));
    certificate = generateSelfSignedCertificate(folder, 'server', '127.0.0.1');
    basicHash = bcrypt.hashSync(secrets.basicAuthPassword, 4);
    simulator = new NotificationHubsSimulator({
      namespace: 'contoso',
      hubs: [
        { name: 'orders', keys: { DefaultListenSharedAccessSignature: secrets.hubKey } },
        { name: 'billing', keys: { DefaultListenSharedAccessSignature: secrets.hubKey } },
      ],
      random: seededRandom(3),
    });
    await simulator.start();
    everlive = new EverliveSimulator({ appId: 'app-1', masterKey: secrets.everliveMasterKey });
    await everlive.start();
  });

  afterAll(async () => {
    await simulator?.stop();
    await everlive?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  function search(): { secret: string; where: string }[] {
    const leaks: { secret: string; where: string }[] = [];
    const privateKeyLine = certificate.key.split('\n')[5] as string;
    const variants = (value: string) => [value, Buffer.from(value).toString('base64'), encodeURIComponent(value), JSON.stringify(value).slice(1, -1)];
    const all: [string, string][] = [...Object.entries(secrets), ['basicAuthHash', basicHash], ['tlsPrivateKey', privateKeyLine]];
    for (const [name, value] of all) {
      for (const variant of variants(value)) {
        for (const { where, text } of observed) if (text.includes(variant)) leaks.push({ secret: name, where });
      }
    }
    // Credentials in their wire format, whatever the value.
    for (const { where, text } of observed) {
      if (/SharedAccessSignature sr=|Masterkey [A-Za-z0-9]|Bearer (?!error=)[A-Za-z0-9._~+/-]{8,}|-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) leaks.push({ secret: 'a credential header or key', where });
    }
    return leaks;
  }

  it('finds none of them in logs, metrics, API answers or error messages', async () => {
    const write = (name: string, text: string) => {
      const path = join(folder, name);
      writeFileSync(path, text);
      return path;
    };
    const tokensFile = write('tokens', `${secrets.intakeToken}\n${secrets.secondIntakeToken}\n`);
    const webConfig = write('web.yml', `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: ${basicHash}\n`);
    const environment = {
      NH_CONNECTION_STRING: simulator.connectionString('orders'),
      WRONG_NH_CONNECTION_STRING: simulator.connectionString('billing').replace(secrets.hubKey, secrets.wrongHubKey),
      EVERLIVE_MASTER_KEY: secrets.everliveMasterKey,
    };
    const config = {
      server: { listen: '127.0.0.1:0', apiTokensFile: tokensFile, webConfigFile: webConfig },
      storage: { path: join(folder, 'state.db') },
      azureNotificationHubs: [
        { name: 'orders-target', connectionString: '${NH_CONNECTION_STRING}', hub: 'orders', endpoint: simulator.url, errorDetails: { allowedHosts: [new URL(simulator.url).host] } },
        { name: 'billing-target', connectionString: '${WRONG_NH_CONNECTION_STRING}', hub: 'billing', endpoint: simulator.url },
      ],
      everlive: [
        { name: 'legacy-app', endpoint: everlive.url, appId: 'app-1', masterKeyFile: write('master-key', `${secrets.everliveMasterKey}\n`), schedule: '* * * * * *', logsPath: 'Push/Notifications/{id}/Logs', reasonField: 'Reason' },
        { name: 'wrong-key-app', endpoint: everlive.url, appId: 'app-1', masterKey: secrets.wrongEverliveMasterKey, schedule: '* * * * * *' },
      ],
    };
    const configPath = write('config.yaml', JSON.stringify(config));

    // 1. Config errors that sit right next to secrets.
    const configErrors: [string, object][] = [
      ['a connection string missing its key name', { azureNotificationHubs: [{ name: 'x', hub: 'h', connectionString: `Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKey=${secrets.hubKey}` }] }],
      ['a connection string without its endpoint', { azureNotificationHubs: [{ name: 'x', hub: 'h', connectionString: `SharedAccessKeyName=a;SharedAccessKey=${secrets.hubKey}` }] }],
      ['a connection string with a bad endpoint', { azureNotificationHubs: [{ name: 'x', hub: 'h', connectionString: `Endpoint=${secrets.hubKey};SharedAccessKeyName=a;SharedAccessKey=${secrets.hubKey}` }] }],
      ['a master key with a bad schedule', { everlive: [{ name: 'x', appId: 'a', masterKey: secrets.everliveMasterKey, schedule: secrets.everliveMasterKey }] }],
      ['a token where a number goes', { server: { apiTokens: [secrets.intakeToken], maxRequestBodyBytes: secrets.intakeToken } }],
      ['a plain password in the web config', { server: { webConfigFile: write('bad-web.yml', `basic_auth_users:\n  prometheus: ${secrets.basicAuthPassword}\n`) } }],
      ['a key file that holds something else', { server: { webConfigFile: write('bad-web-2.yml', `tls_server_config:\n  cert_file: server.crt\n  key_file: ${write('not-a-key.pem', `${secrets.basicAuthPassword}\n`)}\n`) } }],
    ];
    for (const [name, bad] of configErrors) {
      const result = spawnSync(process.execPath, [mainScript, '--config', write(`bad-${configErrors.findIndex(([other]) => other === name)}.yaml`, JSON.stringify(bad)), '--check-config'], { encoding: 'utf8' });
      expect(result.status, name).toBe(2);
      observed.push({ where: `--check-config: ${name}`, text: result.stdout + result.stderr });
    }
    const checked = spawnSync(process.execPath, [mainScript, '--config', configPath, '--check-config'], { encoding: 'utf8', env: { ...process.env, ...environment } });
    expect(checked.status, checked.stderr).toBe(0);
    observed.push({ where: '--check-config (valid)', text: checked.stdout + checked.stderr });

    // 2. The running exporter, at its most verbose, down every path.
    const exporter = ExporterProcess.start(['--config', configPath, '--log-level', 'trace'], environment);
    const url = await exporter.waitForStart();
    const agent = new Agent({ connect: { ca: certificate.cert } });
    const call = async (where: string, path: string, options: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string } = {}) => {
      const response = await request(`${url}${path}`, { dispatcher: agent, method: options.method ?? 'GET', headers: options.headers, body: options.body });
      const text = await response.body.text();
      observed.push({ where, text: `${response.statusCode} ${JSON.stringify(response.headers)}\n${text}` });
      return { status: response.statusCode, text };
    };
    const bearer = { authorization: `Bearer ${secrets.intakeToken}`, 'content-type': 'application/json' };
    const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

    const plan = {
      notReadyMilliseconds: 300,
      enqueuedMilliseconds: 200,
      processingMilliseconds: 500,
      finalState: 'Completed' as const,
      outcomes: { ApnsOutcomeCounts: { Success: 5, WrongToken: 2 } },
      errorDetails: { notReadyMilliseconds: 200 },
    };
    const ids = Array.from({ length: 5 }, () => simulator.createMessage('orders', plan));
    expect((await call('intake', '/api/v1/notifications', { method: 'POST', headers: bearer, body: JSON.stringify(ids.map((notificationId) => ({ target: 'orders-target', notificationId }))) })).status).toBe(202);
    expect((await call('intake by location, second token', '/api/v1/notifications', { method: 'POST', headers: { ...bearer, authorization: `Bearer ${secrets.secondIntakeToken}` }, body: JSON.stringify({ location: simulator.locationOf('billing', 'billing-1') }) })).status).toBe(202);
    await call('intake with a bad item', '/api/v1/notifications', { method: 'POST', headers: bearer, body: JSON.stringify([{ target: 'orders-target', notificationId: '' }, { target: 'nope', notificationId: 'x' }]) });
    await call('intake with broken JSON', '/api/v1/notifications', { method: 'POST', headers: bearer, body: '{"target":' });
    await call('intake with a near-miss token', '/api/v1/notifications', { method: 'POST', headers: { ...bearer, authorization: `Bearer ${secrets.intakeToken}x` }, body: '{}' });
    await call('intake with the token in the query', `/api/v1/notifications?access_token=${secrets.intakeToken}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await call('scrape with the password for another user', '/metrics', { headers: basic('admin', secrets.basicAuthPassword) });
    await call('scrape with a wrong password', '/metrics', { headers: basic('prometheus', `${secrets.basicAuthPassword}-wrong`) });

    const everliveId = everlive.createNotification({ platforms: ['4'] });
    everlive.addFeedback(everliveId, '4', { Sent: 3, Failed: 2 });
    everlive.setLogs(everliveId, [{ Reason: 'InvalidToken', DeviceToken: secrets.deviceToken }]);

    // Polls (good key, and 401s for the wrong key), error-details blobs, Everlive runs.
    await waitFor(
      async () => {
        const { text } = await call('scrape while waiting', '/metrics', { headers: basic('prometheus', secrets.basicAuthPassword) });
        return /push_notification_pns_errors_total\{[^}]*target="orders-target"[^}]*\} 10\b/.test(text) && /outcome="Failed"[^\n]* 2\b/.test(text) ? true : undefined;
      },
      { description: 'polls, error details and Everlive runs to finish', timeoutMilliseconds: 40_000, intervalMilliseconds: 500 },
    );
    for (const id of ids) await call('lookup', `/api/v1/notifications/orders-target/${id}`, { headers: bearer });
    await call('lookup of an unknown ID', '/api/v1/notifications/billing-target/unknown', { headers: bearer });
    await call('list', '/api/v1/notifications?limit=50', { headers: bearer });
    await call('scrape (text)', '/metrics', { headers: basic('prometheus', secrets.basicAuthPassword) });
    await call('scrape (OpenMetrics, exemplars)', '/metrics', { headers: { ...basic('prometheus', secrets.basicAuthPassword), accept: 'application/openmetrics-text; version=1.0.0' } });
    await call('landing page', '/', { headers: basic('prometheus', secrets.basicAuthPassword) });
    await call('health', '/-/healthy');

    exporter.kill('SIGTERM');
    expect((await exporter.exit()).code).toBe(0);
    await agent.close();
    observed.push({ where: 'exporter log (stderr, trace level)', text: exporter.stderr }, { where: 'exporter stdout', text: exporter.stdout });

    // The paths really ran: bad credentials were refused upstream and logged, failures were read.
    expect(exporter.stderr).toContain('hub rejected the credentials');
    expect(exporter.stderr).toContain('Everlive rejected the master key');
    expect(exporter.stderr).toContain('notification has failed deliveries');
    expect(exporter.stderr).toContain('PNS error details read');

    const leaks = search();
    writeFaultResults('secrets', {
      secretsChecked: Object.keys(secrets).length + 2,
      placesSearched: observed.length,
      bytesSearched: observed.reduce((total, { text }) => total + text.length, 0),
      logLines: exporter.stderr.split('\n').length,
      leaks: leaks.length,
    });
    expect(leaks).toEqual([]);
  }, 120_000);
});
