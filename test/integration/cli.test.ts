import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExporterProcess, httpGet, mainScript, requireBuild } from '../support/exporter-process.js';

const secretKey = 'Q0xJLXNlY3JldC1rZXktbmV2ZXItcHJpbnRlZA==';
const connectionString = `Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=${secretKey}`;

function run(args: string[], environment: NodeJS.ProcessEnv = {}) {
  // A bounded wait: a flag that is silently ignored (old `--demo --config`) would otherwise run forever.
  const result = spawnSync(process.execPath, [mainScript, ...args], { encoding: 'utf8', env: { ...process.env, ...environment }, timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('command line', () => {
  let folder: string;
  const write = (name: string, text: string) => {
    const path = join(folder, name);
    writeFileSync(path, text);
    return path;
  };
  const config = (statePath: string) =>
    [
      'server:',
      '  listen: "127.0.0.1:0"',
      'storage:',
      `  path: "${statePath}"`,
      'azureNotificationHubs:',
      '  - name: prod',
      '    connectionString: "${NH_CONNECTION_STRING}"',
      '    hub: my-hub',
      '    endpoint: "http://127.0.0.1:9"',
    ].join('\n');

  beforeAll(() => {
    requireBuild();
    folder = mkdtempSync(join(tmpdir(), 'pne-cli-'));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('--check-config exits 0 for a valid file', () => {
    const result = run(['--config', write('ok.yaml', config(join(folder, 'a.db'))), '--check-config'], {
      NH_CONNECTION_STRING: connectionString,
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/configuration is valid \(1 Azure Notification Hubs targets, 0 Everlive apps\)/);
  });

  it('--check-config exits non-zero naming the key, without printing secrets', () => {
    const bad = config(join(folder, 'b.db')).replace('hub: my-hub', 'hub: my-hub\n    concurrency: 0\n    colour: blue');
    const result = run(['--config', write('bad.yaml', bad), '--check-config'], { NH_CONNECTION_STRING: connectionString });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('azureNotificationHubs[0].colour: unknown key');
    expect(result.stderr).toContain('azureNotificationHubs[0].concurrency:');
    expect(result.stderr + result.stdout).not.toContain(secretKey);
  });

  it('names a missing environment variable and a missing file', () => {
    const missingVariable = run(['--config', write('env.yaml', config(join(folder, 'c.db'))), '--check-config'], {
      NH_CONNECTION_STRING: undefined,
    });
    expect(missingVariable.status).toBe(2);
    expect(missingVariable.stderr).toContain('azureNotificationHubs[0].connectionString: environment variable NH_CONNECTION_STRING is not set');
    const missingFile = run(['--config', join(folder, 'nope.yaml')]);
    expect(missingFile.status).toBe(2);
    expect(missingFile.stderr).toContain('cannot read config file');
  });

  it('refuses unknown flags and a missing --config.file in one line', () => {
    const unknown = run(['--colour']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toBe('push-notification-exporter: unknown flag --colour (see --help)\n');
    const none = run([]);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('--config.file FILE is required');
    expect(run(['--version']).stdout).toMatch(/^push-notification-exporter \d+\.\d+\.\d+/);
  });

  it('-h and --help print every flag with what it does and its default, and exit 0', () => {
    for (const flag of ['-h', '--help']) {
      const help = run([flag]);
      expect(help.status, flag).toBe(0);
      expect(help.stderr).toBe('');
      expect(help.stdout).toContain('Usage:');
      for (const name of [
        '--config.file', '--config', '--config.check', '--check-config', '--web.listen-address', '--listen', '--web.config.file',
        '--log.level', '--log-level', '--log.format', '--demo', '--data-dir', '--version', '--write-config', '--exporter-address',
      ]) {
        expect(help.stdout, name).toMatch(new RegExp(`${name.replace(/\./g, '\\.')}[ ,]`));
      }
      // Help text wraps: compare it as one line.
      const flat = help.stdout.replace(/\s+/g, ' ');
      expect(flat).toContain('Default: server.listen (0.0.0.0:10130); with --demo 127.0.0.1:10130');
      expect(flat).toContain('json or logfmt. Default: $LOG_FORMAT, else json');
      expect(flat).toContain('debug, info, warn, error. Default: $LOG_LEVEL, else info');
      expect(flat).toContain('Default: ./data/demo');
    }
    expect(run(['simulate', '--help']).status).toBe(0);
  });

  it.each([
    [['--config', 'CONFIG', '--log.level', 'verbose'], '--log.level: "verbose" is not a log level (debug, info, warn, error)'],
    [['--config', 'CONFIG', '--log-level', 'verbose'], '--log-level: "verbose" is not a log level (debug, info, warn, error)'],
    [['--config', 'CONFIG', '--log.format', 'xml'], '--log.format: "xml" is not a log format (json, logfmt)'],
    [['--config', 'CONFIG', '--log.level=verbose', '--check-config'], '--log.level: "verbose" is not a log level'],
    [['--config', 'CONFIG', '--log-level', 'verbose', '--config.check'], '--log-level: "verbose" is not a log level'],
    [['--config', 'CONFIG', '--web.listen-address', 'localhost'], '--web.listen-address: "localhost" is not host:port'],
    [['--config', 'a.yaml', '--config.file', 'b.yaml'], '--config and --config.file disagree ("a.yaml", "b.yaml"): give it once'],
    [['--config', 'CONFIG', '--log.level'], '--log.level: needs a value'],
  ])('refuses %j in one line naming the flag, exit 2, before reading the config', (args, message) => {
    const path = write('for-flags.yaml', config(join(folder, 'flags.db')));
    const result = run(args.map((arg) => (arg === 'CONFIG' ? path : arg)), { NH_CONNECTION_STRING: connectionString });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stdout).not.toContain('configuration is valid');
  });

  it('refuses LOG_LEVEL and LOG_FORMAT values it cannot use, naming the variable', () => {
    const path = write('env-level.yaml', config(join(folder, 'env-level.db')));
    const level = run(['--config', path, '--check-config'], { NH_CONNECTION_STRING: connectionString, LOG_LEVEL: 'loud' });
    expect(level.status).toBe(2);
    expect(level.stderr).toContain('LOG_LEVEL: "loud" is not a log level');
    const format = run(['--config', path, '--check-config'], { NH_CONNECTION_STRING: connectionString, LOG_FORMAT: 'yaml' });
    expect(format.status).toBe(2);
    expect(format.stderr).toContain('LOG_FORMAT: "yaml" is not a log format');
  });

  it('refuses --demo with --config, and --data-dir without --demo', () => {
    const path = write('demo.yaml', config(join(folder, 'demo.db')));
    for (const args of [['--demo', '--config', path], ['--demo', '--config.file', path], ['--demo', '--check-config']]) {
      const result = run(args);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/--demo runs on its own built-in configuration: it does not take --(config|config\.file|check-config) /);
    }
    expect(run(['--config', path, '--data-dir', folder]).stderr).toContain('--data-dir goes with --demo');
  });

  it('--config.file and --config.check work like --config and --check-config', () => {
    const result = run(['--config.file', write('new-flags.yaml', config(join(folder, 'new.db'))), '--config.check'], { NH_CONNECTION_STRING: connectionString });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('configuration is valid');
  });

  it('--web.config.file replaces server.webConfigFile and is checked by --config.check, naming the flag', () => {
    const webConfig = write('plain-password-web.yml', 'basic_auth_users:\n  prometheus: hunter2-plain-text\n');
    const result = run(['--config.file', write('web-flag.yaml', config(join(folder, 'web.db'))), '--config.check', '--web.config.file', webConfig], {
      NH_CONNECTION_STRING: connectionString,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`--web.config.file (${webConfig}): basic_auth_users."prometheus": is not a bcrypt hash`);
    expect(result.stderr).not.toContain('hunter2');
  });

  it('--web.listen-address overrides server.listen of the config, and the log names the address bound', async () => {
    // The config's port is taken: only the flag lets it start.
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const taken = (blocker.address() as AddressInfo).port;
    const path = write('override.yaml', config(join(folder, 'override', 'state.db')).replace('listen: "127.0.0.1:0"', `listen: "127.0.0.1:${taken}"`));
    const exporter = ExporterProcess.start(['--config.file', path, '--web.listen-address', '0.0.0.0:0'], { NH_CONNECTION_STRING: connectionString });
    try {
      const url = await exporter.waitForStart();
      const started = exporter.logLines().find((line) => line.msg === 'exporter started') as { address: string; url: string };
      const port = new URL(url).port;
      expect(started.address).toBe(`0.0.0.0:${port}`);
      expect(started.url).toBe(`http://127.0.0.1:${port}`);
      expect((await httpGet(`${url}/-/healthy`)).status).toBe(200);
    } finally {
      exporter.kill('SIGTERM');
      expect((await exporter.exit()).code).toBe(0);
      blocker.close();
    }
  });

  it('--log.format logfmt writes logfmt lines', async () => {
    const exporter = ExporterProcess.start(['--config.file', write('logfmt.yaml', config(join(folder, 'logfmt', 'state.db'))), '--log.format', 'logfmt'], {
      NH_CONNECTION_STRING: connectionString,
    });
    const line = await exporter.waitForLine((text) => text.includes('msg="exporter started"'));
    expect(line).toMatch(/^ts=\S+ level=info msg="exporter started" service=push-notification-exporter address=127\.0\.0\.1:\d+ url=http:\/\/127\.0\.0\.1:\d+ /);
    exporter.kill('SIGTERM');
    expect((await exporter.exit()).code).toBe(0);
    const lines = exporter.stderr.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(/^ts=\S+ level=info msg=stopped service=push-notification-exporter$/);
    for (const text of lines) expect(text).toMatch(/^ts=\S+ level=\w+ msg=/);
    expect(exporter.stderr).not.toContain(secretKey);
  });

  it('runs, serves health and metrics, and exits 0 on SIGTERM', async () => {
    const exporter = ExporterProcess.start(['--config', write('run.yaml', config(join(folder, 'run', 'state.db')))], {
      NH_CONNECTION_STRING: connectionString,
    });
    const url = await exporter.waitForStart();
    expect(await httpGet(`${url}/-/healthy`)).toEqual({ status: 200, text: 'OK' });
    expect(await httpGet(`${url}/-/ready`)).toEqual({ status: 200, text: 'OK' });
    const metrics = await httpGet(`${url}/metrics`);
    expect(metrics.text).toContain('push_notification_exporter_build_info{version=');
    expect(metrics.text).not.toContain(secretKey);
    exporter.kill('SIGTERM');
    expect(await exporter.exit()).toEqual({ code: 0, signal: null });
    expect(exporter.stderr).toContain('"stopped"');
    expect(exporter.stderr).not.toContain(secretKey);
  });

  it('refuses a corrupt state file with a clear error and leaves it untouched', async () => {
    const statePath = write('corrupt.db', 'this is not a SQLite database, it is a text file of some length '.repeat(100));
    const before = readFileSync(statePath);
    const exporter = ExporterProcess.start(['--config', write('corrupt.yaml', config(statePath))], {
      NH_CONNECTION_STRING: connectionString,
    });
    expect((await exporter.exit()).code).toBe(1);
    expect(exporter.stderr).toContain('is not a valid SQLite database');
    expect(readFileSync(statePath).equals(before)).toBe(true);
  });

  it('exits non-zero when it cannot listen, releasing the state file for the next start', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as AddressInfo).port;
    const statePath = join(folder, 'busy-port', 'state.db');
    const busy = config(statePath).replace('listen: "127.0.0.1:0"', `listen: "127.0.0.1:${port}"`);
    const exporter = ExporterProcess.start(['--config', write('busy.yaml', busy)], { NH_CONNECTION_STRING: connectionString });
    expect((await exporter.exit()).code).toBe(1);
    expect(exporter.stderr).toContain(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
    blocker.close();
    const again = ExporterProcess.start(['--config', write('free.yaml', config(statePath))], { NH_CONNECTION_STRING: connectionString });
    await again.waitForStart();
    again.kill('SIGTERM');
    expect((await again.exit()).code).toBe(0);
  });

  it('refuses a second exporter on the same state file', async () => {
    const path = write('shared.yaml', config(join(folder, 'shared', 'state.db')));
    const first = ExporterProcess.start(['--config', path], { NH_CONNECTION_STRING: connectionString });
    await first.waitForStart();
    const second = ExporterProcess.start(['--config', path], { NH_CONNECTION_STRING: connectionString });
    expect((await second.exit()).code).toBe(1);
    expect(second.stderr).toContain('is in use by another process');
    first.kill('SIGTERM');
    expect((await first.exit()).code).toBe(0);
  });
});
