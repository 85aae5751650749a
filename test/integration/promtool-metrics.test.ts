import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { NotificationHubsSimulator } from '../../src/simulator/notification-hubs/server.js';
import { ExporterProcess, httpGet } from '../support/exporter-process.js';
import { Harness } from '../support/harness.js';
import { promtoolAvailable, runPromtool } from '../support/promtool.js';

/** Keeps only the exporter's own families (prom-client's process/nodejs defaults are not ours to lint). */
function exporterFamilies(text: string): string {
  return text
    .split('\n')
    .filter((line) => /^(# (HELP|TYPE) )?push_notification_/.test(line))
    .join('\n')
    .concat('\n');
}

describe.skipIf(!promtoolAvailable())('promtool check metrics on a real scrape', () => {
  it('passes for every exporter family with live data', async () => {
    const harness = await Harness.start();
    try {
      const ids = [
        harness.simulator.createMessage('orders', {
          notReadyMilliseconds: 1_000,
          enqueuedMilliseconds: 500,
          processingMilliseconds: 1_000,
          finalState: 'Completed',
          outcomes: { ApnsOutcomeCounts: { Success: 5, WrongToken: 1 }, WnsOutcomeCounts: { Success: 2 } },
        }),
        harness.simulator.createMessage('orders', {
          notReadyMilliseconds: 1_000,
          enqueuedMilliseconds: 500,
          processingMilliseconds: 60_000,
          finalState: 'Completed',
          outcomes: { FcmV1OutcomeCounts: { Success: 100 } },
        }),
      ];
      await harness.post(ids.map((notificationId) => ({ target: 'orders-target', notificationId })));
      await harness.advance(20_000);
      const text = exporterFamilies(await harness.scrapeText());
      expect(text).toContain('push_notification_outcomes_total{');
      expect(text).toContain('push_notification_queue_duration_seconds_bucket{');
      expect(text).toContain('push_notification_tracked_messages{');
      const result = runPromtool(['check', 'metrics'], text);
      expect(result.output).toBe('');
      expect(result.status).toBe(0);
    } finally {
      await harness.close();
    }
  });
});

describe.skipIf(!promtoolAvailable())('promtool check metrics on the whole scrape of the built exporter', () => {
  it('passes with the process and Node.js metrics included, as `curl …/metrics | promtool check metrics` does', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'pne-promtool-'));
    const key = 'd2hvbGUtc2NyYXBlLXRlc3Qta2V5';
    const simulator = new NotificationHubsSimulator({ namespace: 'contoso', hubs: [{ name: 'orders', keys: { listen: key } }] });
    await simulator.start();
    const id = simulator.createMessage('orders', {
      notReadyMilliseconds: 0,
      enqueuedMilliseconds: 100,
      processingMilliseconds: 100,
      finalState: 'Completed',
      outcomes: { ApnsOutcomeCounts: { Success: 5, WrongToken: 1 } },
    });
    const configPath = join(folder, 'config.yaml');
    writeFileSync(
      configPath,
      JSON.stringify({
        server: { listen: '127.0.0.1:0', apiTokens: ['whole-scrape-token'] },
        storage: { path: join(folder, 'state.db') },
        azureNotificationHubs: [{ name: 'prod', connectionString: simulator.connectionString('orders'), hub: 'orders', endpoint: simulator.url }],
      }),
    );
    const exporter = ExporterProcess.start(['--config.file', configPath]);
    try {
      const url = await exporter.waitForStart();
      const intake = await request(`${url}/api/v1/notifications`, {
        method: 'POST',
        headers: { authorization: 'Bearer whole-scrape-token', 'content-type': 'application/json' },
        body: JSON.stringify({ target: 'prod', notificationId: id }),
      });
      expect(intake.statusCode).toBe(202);
      await intake.body.dump();
      // The first poll comes a few seconds after intake (real time: this is a real process).
      let text = '';
      for (let attempt = 0; attempt < 150 && !/push_notification_messages_total\{[^}]*state="Completed"\} 1/.test(text); attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        text = (await httpGet(`${url}/metrics`)).text;
      }
      expect(text).toMatch(/push_notification_messages_total\{[^}]*state="Completed"\} 1/);
      expect(text).toContain('process_cpu_seconds_total');
      expect(text).toContain('nodejs_active_handles{');
      expect(runPromtool(['check', 'metrics'], text)).toEqual({ status: 0, output: '' });
      expect(text).not.toMatch(/^nodejs_active_\w+_total/m);
    } finally {
      exporter.kill('SIGTERM');
      await exporter.exit();
      await simulator.stop();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
