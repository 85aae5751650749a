import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExporterProcess, httpGet, mainScript, requireBuild } from '../support/exporter-process.js';
import { parsePrometheusText, sumOf, type Sample } from '../support/prometheus-text.js';

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** The written config without what changes when the ports do. */
const withoutPorts = (text: string) => text.replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT');

describe('push-notification-exporter simulate', () => {
  let folder: string;
  beforeAll(() => {
    requireBuild();
    folder = mkdtempSync(join(tmpdir(), 'pne-simulate-'));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('runs the simulators standalone; the exporter on the config it writes counts both sources', async () => {
    const exporterPort = await freePort();
    const configPath = join(folder, 'simulated.yaml');
    const simulate = ExporterProcess.start(['simulate', '--listen', '127.0.0.1:0', '--write-config', configPath, '--exporter-address', `127.0.0.1:${exporterPort}`]);
    let exporter: ExporterProcess | undefined;
    try {
      await simulate.waitForLine((line) => line.includes('"simulators started"'));
      expect(existsSync(configPath)).toBe(true);
      const check = spawnSync(process.execPath, [mainScript, '--config.check', '--config.file', configPath], { encoding: 'utf8' });
      expect(check.stdout).toContain('configuration is valid (3 Azure Notification Hubs targets, 1 Everlive apps)');
      expect(check.status).toBe(0);
      expect(simulate.stdout).toContain(`run the exporter:  node dist/main.js --config.file ${configPath}`);

      // The sender has been sending, with no exporter yet: those Locations wait and are forwarded.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      exporter = ExporterProcess.start(['--config.file', configPath], {}, { cwd: folder });
      const url = await exporter.waitForStart();
      expect(url).toBe(`http://127.0.0.1:${exporterPort}`);
      const counted = (samples: Sample[]) => ({
        accepted: sumOf(samples, 'push_notification_intake_notifications_total', { result: 'accepted' }),
        azureMessages: sumOf(samples, 'push_notification_messages_total', { source: 'azure_notification_hubs' }),
        azureOutcomes: sumOf(samples, 'push_notification_outcomes_total', { source: 'azure_notification_hubs' }),
        everliveOutcomes: sumOf(samples, 'push_notification_outcomes_total', { source: 'everlive' }),
        up: sumOf(samples, 'push_notification_source_up'),
      });
      let counts = counted([]);
      // Real processes in real time: the first Azure poll is 10 s after intake, Everlive runs every 10 s.
      for (let attempt = 0; attempt < 90; attempt += 1) {
        counts = counted(parsePrometheusText((await httpGet(`${url}/metrics`)).text));
        if (counts.azureMessages > 0 && counts.everliveOutcomes > 0 && counts.up === 4) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect(counts.accepted).toBeGreaterThan(0);
      expect(counts.azureMessages).toBeGreaterThan(0);
      expect(counts.azureOutcomes).toBeGreaterThan(0);
      expect(counts.everliveOutcomes).toBeGreaterThan(0);
      expect(counts.up).toBe(4);
      // The exporter kept its state where the config says, relative to where it runs.
      expect(existsSync(join(folder, 'data', 'simulate', 'state.db'))).toBe(true);
    } finally {
      exporter?.kill('SIGTERM');
      simulate.kill('SIGINT');
    }
    expect((await exporter?.exit())?.code).toBe(0);
    expect((await simulate.exit()).code).toBe(0);
    expect(simulate.logLines().map((line) => line.msg).slice(-2)).toEqual(['stopping', 'stopped']);
    expect(exporter?.logLines().filter((line) => line.level === 'error')).toEqual([]);

    // The same identity on the next run (keys, token, namespace): the written config stays valid.
    const again = ExporterProcess.start(['simulate', '--listen', '127.0.0.1:0', '--exporter-address', `127.0.0.1:${exporterPort}`]);
    try {
      await again.waitForLine((line) => line.startsWith('    pageSize: 50'), 15_000, 'stdout');
    } finally {
      again.kill('SIGTERM');
    }
    expect((await again.exit()).code).toBe(0);
    const printed = again.stdout.slice(again.stdout.indexOf('# Written by'));
    expect(withoutPorts(printed)).toBe(withoutPorts(readFileSync(configPath, 'utf8')));
  });

  it('refuses a bad --listen in one line', () => {
    const result = spawnSync(process.execPath, [mainScript, 'simulate', '--listen', 'nowhere'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('push-notification-exporter: --listen: "nowhere" is not host:port (see --help)\n');
  });
});
