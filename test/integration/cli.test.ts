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
  const result = spawnSync(process.execPath, [mainScript, ...args], { encoding: 'utf8', env: { ...process.env, ...environment } });
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

  it('refuses unknown flags and a missing --config with usage', () => {
    expect(run(['--colour']).status).toBe(2);
    const none = run([]);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('--config FILE is required');
    expect(run(['--help']).stdout).toContain('Usage: push-notification-exporter');
    expect(run(['--version']).stdout).toMatch(/^push-notification-exporter \d+\.\d+\.\d+/);
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
