import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile, parseConfig, parseListenAddress } from './load.js';

const connectionString =
  'Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=DefaultListenSharedAccessSignature;SharedAccessKey=S3cr3tKeyValue=';

function problemsOf(yaml: string, environment: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(yaml, { environment });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('applies documented defaults to a minimal config', () => {
    const config = parseConfig(
      `azureNotificationHubs:\n  - name: prod\n    connectionString: "${connectionString}"\n    hub: my-hub\n`,
    );
    expect(config.server).toEqual({
      listen: { host: '0.0.0.0', port: 10130 },
      apiTokens: [],
      maxRequestBodyBytes: 1048576,
      intakeRateLimit: { requestsPerSecond: 100, burst: 200 },
    });
    expect(config.storage).toEqual({ path: './data/state.db', finishedRetentionMilliseconds: 7 * 86_400_000 });
    expect(config.azureNotificationHubs).toEqual([
      {
        name: 'prod',
        hub: 'my-hub',
        connection: {
          namespaceHost: 'contoso.servicebus.windows.net',
          namespaceUri: 'https://contoso.servicebus.windows.net',
          sharedAccessKeyName: 'DefaultListenSharedAccessSignature',
          sharedAccessKey: 'S3cr3tKeyValue=',
        },
        endpoint: 'https://contoso.servicebus.windows.net',
        resourceUri: 'https://contoso.servicebus.windows.net/my-hub',
        apiVersion: '2020-06',
        notFoundDeadlineMilliseconds: 30 * 60_000,
        maxAgeMilliseconds: 2 * 3_600_000,
        scheduledMaxAgeMilliseconds: 8 * 86_400_000,
        concurrency: 8,
        requestTimeoutMilliseconds: 10_000,
        errorDetails: { allowedHosts: ['*.blob.core.windows.net'], retryForMilliseconds: 2 * 3_600_000 },
      },
    ]);
  });

  it('reads an Everlive app with defaults, and refuses a bad schedule, page size or logsPath', () => {
    const config = parseConfig('everlive:\n  - name: legacy\n    appId: "${APP}"\n    masterKeyFile: /dev/null\n', {
      environment: { APP: 'abc123' },
      readFile: () => 'master-key-from-file\n',
    });
    expect(config.everlive).toEqual([
      {
        name: 'legacy',
        endpoint: 'https://api.everlive.com/v1',
        appId: 'abc123',
        masterKey: 'master-key-from-file',
        schedule: '0 * * * * *',
        pageSize: 100,
        overlapMilliseconds: 60_000,
        initialLookbackMilliseconds: 86_400_000,
        requestTimeoutMilliseconds: 10_000,
        logsPath: undefined,
        reasonField: undefined,
      },
    ]);
    const problems = problemsOf(
      'everlive:\n  - name: legacy\n    appId: a\n    masterKey: TOPSECRET\n    schedule: "every minute"\n    pageSize: 501\n    logsPath: "Logs"\n',
    );
    expect(problems).toEqual([
      'everlive[0].schedule: is not a valid cron expression (node-cron, 5 or 6 fields)',
      'everlive[0].pageSize: Too big: expected number to be <=500',
      'everlive[0].logsPath: must be a path containing {id}',
    ]);
    expect(problemsOf(`azureNotificationHubs:\n  - name: same\n    connectionString: "${connectionString}"\n    hub: h\neverlive:\n  - name: same\n    appId: a\n    masterKey: k\n`)).toEqual([
      'everlive[0].name: "same" is already used by azureNotificationHubs[0]',
    ]);
  });

  it('parses an empty fragment, but refuses a config file with no targets at all', () => {
    expect(parseConfig('').azureNotificationHubs).toEqual([]);
    const folder = mkdtempSync(join(tmpdir(), 'pne-config-'));
    for (const [name, text] of [
      ['empty.yaml', ''],
      ['comments.yaml', '# nothing here yet\n'],
      ['server-only.yaml', 'server:\n  listen: ":10130"\n'],
      ['empty-lists.yaml', 'azureNotificationHubs: []\neverlive: []\n'],
    ] as const) {
      writeFileSync(join(folder, name), text);
      expect(() => loadConfigFile(join(folder, name)), name).toThrow(/no targets: configure at least one entry under azureNotificationHubs, everlive or azureMonitor/);
    }
  });

  it('interpolates ${VAR} from the environment and keeps $$ as a dollar', () => {
    const config = parseConfig(
      [
        'server:',
        '  apiTokens: ["${INTAKE_TOKEN}", "pa$$word"]',
        'azureNotificationHubs:',
        '  - name: prod',
        '    connectionString: "${NH_CONNECTION_STRING}"',
        '    hub: my-hub',
        '    endpoint: "http://127.0.0.1:18080/"',
        '    notFoundDeadline: 1h30m',
      ].join('\n'),
      { environment: { INTAKE_TOKEN: 'token-from-env', NH_CONNECTION_STRING: connectionString } },
    );
    expect(config.server.apiTokens).toEqual(['token-from-env', 'pa$word']);
    const [hub] = config.azureNotificationHubs;
    expect(hub?.endpoint).toBe('http://127.0.0.1:18080');
    // The overridden endpoint never changes what SAS signs.
    expect(hub?.resourceUri).toBe('https://contoso.servicebus.windows.net/my-hub');
    expect(hub?.notFoundDeadlineMilliseconds).toBe(90 * 60_000);
  });

  it('turns a whole ${VAR} holding a number into a number', () => {
    const config = parseConfig(
      `azureNotificationHubs:\n  - name: prod\n    connectionString: "${connectionString}"\n    hub: h\n    concurrency: \${CONCURRENCY}\n`,
      { environment: { CONCURRENCY: '16' } },
    );
    expect(config.azureNotificationHubs[0]?.concurrency).toBe(16);
    const everlive = parseConfig('everlive:\n  - name: e\n    appId: ${APP}\n    masterKey: k\n', { environment: { APP: '12345' } });
    expect(everlive.everlive[0]?.appId).toBe('12345');
  });

  it('reads <key>File secrets, trimming the final newline, and token lists one per line', () => {
    const folder = mkdtempSync(join(tmpdir(), 'pne-config-'));
    writeFileSync(join(folder, 'connection'), `${connectionString}\n`);
    writeFileSync(join(folder, 'tokens'), 'first-token\n\nsecond-token\n');
    const config = parseConfig(
      [
        'server:',
        `  apiTokensFile: ${join(folder, 'tokens')}`,
        'azureNotificationHubs:',
        '  - name: prod',
        `    connectionStringFile: ${join(folder, 'connection')}`,
        '    hub: my-hub',
      ].join('\n'),
    );
    expect(config.server.apiTokens).toEqual(['first-token', 'second-token']);
    expect(config.azureNotificationHubs[0]?.connection.sharedAccessKey).toBe('S3cr3tKeyValue=');
  });

  it.each([
    ['unknown keys', 'server:\n  lisen: ":1"\n', /^server\.lisen: unknown key$/],
    ['unknown top-level keys', 'azure: []\n', /^azure: unknown key$/],
    ['wrong types', 'azureNotificationHubs:\n  - name: prod\n    connectionString: x\n    hub: h\n    concurrency: "8"\n', /^azureNotificationHubs\[0\]\.concurrency: .*expected number/],
    ['bad durations', `azureNotificationHubs:\n  - name: prod\n    connectionString: "${connectionString}"\n    hub: h\n    maxAge: 2 hours\n`, /^azureNotificationHubs\[0\]\.maxAge: is not a duration/],
    ['missing required keys', 'azureNotificationHubs:\n  - name: prod\n    hub: h\n', /^azureNotificationHubs\[0\]\.connectionString: /],
    ['bad target names', `azureNotificationHubs:\n  - name: "prod hub"\n    connectionString: "${connectionString}"\n    hub: h\n`, /^azureNotificationHubs\[0\]\.name: must be 1-64 characters/],
    ['duplicate target names', `azureNotificationHubs:\n  - name: prod\n    connectionString: "${connectionString}"\n    hub: a\n  - name: prod\n    connectionString: "${connectionString}"\n    hub: b\n`, /^azureNotificationHubs\[1\]\.name: "prod" is already used by azureNotificationHubs\[0\]/],
    ['malformed connection strings', 'azureNotificationHubs:\n  - name: prod\n    connectionString: "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=TOPSECRET"\n    hub: h\n', /^azureNotificationHubs\[0\]\.connectionString: malformed connection string: missing SharedAccessKeyName$/],
    ['missing environment variables', 'server:\n  apiTokens: ["${NOPE}"]\n', /^server\.apiTokens\[0\]: environment variable NOPE is not set$/],
    ['a key given twice', 'server:\n  listen: ":1"\n  listen: ":2"\n', /^YAML line 3, column 3: Map keys must be unique$/],
    ['a bad listen address', 'server:\n  listen: "localhost"\n', /^server\.listen: "localhost" is not host:port$/],
    ['a key and its File twin', 'storage:\n  path: a\n  pathFile: b\n', /^storage\.pathFile: give either path or pathFile, not both$/],
    ['an unreadable secret file', 'storage:\n  pathFile: /nonexistent/secret\n', /^storage\.pathFile: cannot read \/nonexistent\/secret: ENOENT$/],
    ['an endpoint with a query', `azureNotificationHubs:\n  - name: prod\n    connectionString: "${connectionString}"\n    hub: h\n    endpoint: "http://x/?a=b"\n`, /endpoint: must be an http/],
    ['YAML syntax errors', 'server: [\n', /^YAML line 2, column 1: Flow sequence in block collection must be sufficiently indented and end with a \]$/],
    ['a bare number as a duration', `azureNotificationHubs:\n  - name: prod\n    connectionString: "${connectionString}"\n    hub: h\n    maxAge: 120\n`, /^azureNotificationHubs\[0\]\.maxAge: 120 has no unit: durations need one \(120s, 120m/],
    ['a bare number in quotes as a duration', 'storage:\n  finishedRetention: "7"\n', /^storage\.finishedRetention: "7" has no unit: durations need one \(7s, 7m/],
    ['a loopback allowedHosts entry without a port', `azureNotificationHubs:\n  - name: prod\n    connectionString: "${connectionString}"\n    hub: h\n    errorDetails:\n      allowedHosts: ["127.0.0.1"]\n`, /^azureNotificationHubs\[0\]\.errorDetails\.allowedHosts\[0\]: a loopback host needs its port/],
    ['an out-of-range cron step', 'everlive:\n  - name: e\n    appId: a\n    masterKey: k\n    schedule: "*/90 * * * * *"\n', /^everlive\[0\]\.schedule: second field "\*\/90": step 90 is wider than the range \*: it would fire only at 0 \(second is 0-59\)$/],
    ['a backwards cron range', 'everlive:\n  - name: e\n    appId: a\n    masterKey: k\n    schedule: "0 50-10 * * *"\n', /^everlive\[0\]\.schedule: hour field "50-10": 50 is out of range/],
    ['reasonField without logsPath', 'everlive:\n  - name: e\n    appId: a\n    masterKey: k\n    reasonField: Reason\n', /^everlive\[0\]\.reasonField: needs logsPath/],
  ])('names the key for %s', (_name, yaml, message) => {
    const problems = problemsOf(yaml);
    expect(problems.some((problem) => message.test(problem)), problems.join('\n')).toBe(true);
    expect(problems.join('\n')).not.toContain('TOPSECRET');
    expect(problems.join('\n')).not.toContain('S3cr3tKeyValue');
  });
});

describe('config errors an operator meets first', () => {
  const hub = (extra: string) => `azureNotificationHubs:\n  - name: prod\n    connectionString: "${connectionString}"\n    hub: h\n${extra}`;

  it('gives one error for one tab, with its position and no dangling colon', () => {
    const problems = problemsOf(hub('\tmaxAge: 2h\n').replace('    hub: h', '\thub: h'));
    expect(problems).toEqual(['YAML line 4, column 1: Tabs are not allowed as indentation (indent with spaces)']);
    const first = problemsOf('azureNotificationHubs:\n\t- name: prod\n    hub: h\n    maxAge: 2h\n');
    expect(first).toHaveLength(1);
    for (const problem of [...problems, ...first]) expect(problem).not.toMatch(/:$/);
  });

  it('names the environment variable a bad value came from, never its value', () => {
    expect(problemsOf(hub('    maxAge: ${MAX_AGE}\n'), { MAX_AGE: '2 hours' })).toEqual([
      'azureNotificationHubs[0].maxAge: is not a duration (examples: 500ms, 10s, 30m, 2h, 7d) (the value comes from environment variable MAX_AGE)',
    ]);
    expect(problemsOf(hub('    concurrency: ${CONCURRENCY}\n'), { CONCURRENCY: 'lots' })).toEqual([
      'azureNotificationHubs[0].concurrency: Invalid input: expected number, received string (the value comes from environment variable CONCURRENCY)',
    ]);
    const secret = problemsOf('azureNotificationHubs:\n  - name: prod\n    connectionString: "${NH}"\n    hub: h\n', {
      NH: 'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=TOPSECRET',
    });
    expect(secret).toEqual([
      'azureNotificationHubs[0].connectionString: malformed connection string: missing SharedAccessKeyName (the value comes from environment variable NH)',
    ]);
    expect(secret.join('\n')).not.toContain('TOPSECRET');
    expect(problemsOf('server:\n  listen: "${HOST}:${PORT}"\n', { HOST: 'localhost', PORT: 'http' })).toEqual([
      'server.listen: "localhost:http" is not host:port (the value comes from environment variables HOST, PORT)',
    ]);
  });

  it('names the secret file a bad value came from', () => {
    const problems = parseConfigProblems('storage:\n  finishedRetentionFile: /run/secrets/retention\n', () => '90\n');
    expect(problems).toEqual(['storage.finishedRetention: "90" has no unit: durations need one (90s, 90m, ...; examples: 500ms, 10s, 30m, 2h, 7d) (the value comes from finishedRetentionFile /run/secrets/retention)']);
  });

  it('accepts loopback hosts with their port, and cron steps and ranges that fit', () => {
    const config = parseConfig(
      hub('    errorDetails:\n      allowedHosts: ["127.0.0.1:10000", "[::1]:10000", "localhost:9000", "*.blob.core.windows.net"]\n') +
        'everlive:\n  - name: e\n    appId: a\n    masterKey: k\n    schedule: "*/30 0-59/15 8-18 * * MON-FRI"\n    logsPath: "Push/Notifications/{id}/Logs"\n    reasonField: Reason\n',
    );
    expect(config.azureNotificationHubs[0]?.errorDetails.allowedHosts).toHaveLength(4);
    expect(config.everlive[0]?.schedule).toBe('*/30 0-59/15 8-18 * * MON-FRI');
  });
});

function parseConfigProblems(yaml: string, readFile: (path: string) => string): string[] {
  try {
    parseConfig(yaml, { environment: {}, readFile });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseListenAddress', () => {
  it.each([
    ['0.0.0.0:10130', { host: '0.0.0.0', port: 10130 }],
    [':9000', { host: '0.0.0.0', port: 9000 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
  ])('%s', (text, expected) => {
    expect(parseListenAddress(text)).toEqual(expected);
  });

  it('refuses an out-of-range port', () => {
    expect(parseListenAddress('0.0.0.0:70000')).toBe('port 70000 is out of range');
  });
});
