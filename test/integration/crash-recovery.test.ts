import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import { NotificationHubsSimulator } from '../../src/simulator/notification-hubs/server.js';
import { seededRandom } from '../../src/simulator/random.js';
import { ExporterProcess, httpGet } from '../support/exporter-process.js';
import { groupBy, parsePrometheusText, sumOf } from '../support/prometheus-text.js';

const token = 'crash-test-token-abcdefghijklmnop';
const target = 'orders-target';

/**
 * kill -9 at random moments while the real exporter process polls, restart it on the same state
 * file, and require the final totals to equal the simulator's truth exactly: nothing acknowledged
 * is lost, nothing is counted twice. Runs in real time (about a minute).
 */
describe('crash recovery (kill -9 during polling)', () => {
  const random = seededRandom(2026);
  let simulator: NotificationHubsSimulator;
  let folder: string;
  let configPath: string;

  beforeAll(async () => {
    simulator = new NotificationHubsSimulator({
      namespace: 'contoso',
      hubs: [{ name: 'orders', keys: { DefaultListenSharedAccessSignature: 'crash-test-key' } }],
      random,
    });
    await simulator.start();
    folder = mkdtempSync(join(tmpdir(), 'pne-crash-'));
    configPath = join(folder, 'config.yaml');
    writeFileSync(
      configPath,
      JSON.stringify({
        server: { listen: '127.0.0.1:0', apiTokens: [token] },
        storage: { path: join(folder, 'state.db') },
        azureNotificationHubs: [
          { name: target, connectionString: simulator.connectionString('orders'), hub: 'orders', endpoint: simulator.url, concurrency: 4 },
        ],
      }),
    );
  });

  afterAll(async () => {
    await simulator?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  function planFor(index: number): MessagePlan {
    const between = (low: number, high: number) => Math.round(low + random() * (high - low));
    return {
      notReadyMilliseconds: between(200, 3_000),
      enqueuedMilliseconds: between(100, 1_000),
      // Long processing so counts grow across several polls while the process is being killed.
      processingMilliseconds: between(1_000, 25_000),
      finalState: index % 17 === 0 ? 'Abandoned' : 'Completed',
      outcomes: {
        ApnsOutcomeCounts: { Success: between(10, 400), WrongToken: between(0, 9) },
        FcmV1OutcomeCounts: { Success: between(10, 300), InvalidToken: between(0, 5) },
      },
    };
  }

  async function submit(url: string, ids: string[]): Promise<void> {
    const response = await request(`${url}/api/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(ids.map((notificationId) => ({ target, notificationId }))),
    });
    expect(response.statusCode).toBe(202);
    await response.body.dump();
  }

  it('ends with exactly the simulator truth after repeated kill -9 and restart', async () => {
    let exporter = ExporterProcess.start(['--config', configPath]);
    let url = await exporter.waitForStart();
    const acknowledged: string[] = [];
    for (let batch = 0; batch < 3; batch += 1) {
      const ids = Array.from({ length: 40 }, (_, index) => simulator.createMessage('orders', planFor(batch * 40 + index)));
      await submit(url, ids);
      acknowledged.push(...ids);
    }

    let kills = 0;
    for (const delay of [10_500 + random() * 1_500, 2_000 + random() * 4_000, 3_000 + random() * 5_000, 2_000 + random() * 6_000]) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      exporter.kill('SIGKILL');
      expect((await exporter.exit()).signal).toBe('SIGKILL');
      kills += 1;
      exporter = ExporterProcess.start(['--config', configPath]);
      url = await exporter.waitForStart();
      // Intake right after a restart is acknowledged durably too.
      if (kills === 2) {
        const ids = Array.from({ length: 20 }, (_, index) => simulator.createMessage('orders', planFor(200 + index)));
        await submit(url, ids);
        acknowledged.push(...ids);
      }
    }
    expect(kills).toBe(4);

    const deadline = Date.now() + 120_000;
    let samples = parsePrometheusText((await httpGet(`${url}/metrics`)).text);
    while (sumOf(samples, 'push_notification_tracked_messages', { target }) > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      samples = parsePrometheusText((await httpGet(`${url}/metrics`)).text);
    }

    const truth = simulator.truth('orders');
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { target })).toEqual(truth.outcomes);
    expect(groupBy(samples, 'push_notification_messages_total', ['state'], { target })).toEqual(
      new Map([
        ['Completed', truth.finalStates.get('Completed') ?? 0],
        ['Abandoned', truth.finalStates.get('Abandoned') ?? 0],
        ['NoTargetFound', 0],
        ['Canceled', 0],
      ]),
    );
    expect(sumOf(samples, 'push_notification_intake_notifications_total', { result: 'accepted' })).toBe(acknowledged.length);
    expect(sumOf(samples, 'push_notification_tracking_expired_total', { target })).toBe(0);

    exporter.kill('SIGTERM');
    expect(await exporter.exit()).toEqual({ code: 0, signal: null });
  });
});
