import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeThrowawayCertificate, type ThrowawayCertificate } from '../../src/simulator/azure-monitor/certificate.js';
import { outcomeNames } from '../../src/sources/azure-monitor/metric-names.js';
import { AzureMonitorSimulator } from '../../src/simulator/azure-monitor/server.js';
import { seededRandom } from '../../src/simulator/random.js';
import { monitorClientId, monitorResourceId, monitorSecret, monitorTenant } from '../support/azure-monitor.js';
import { ExporterProcess, httpGet } from '../support/exporter-process.js';
import { groupBy, parsePrometheusText, sumOf, type Sample } from '../support/prometheus-text.js';

const minute = 60_000;
const target = 'orders-target';
const source = 'azure_monitor';
/** Traffic on every minute of the two days before the test; nothing newer, so every minute is settled. */
const historyMinutes = 2 * 24 * 60;
const pushes: [service: string, outcome: string][] = [
  ['apns', 'success'],
  ['apns', 'wrongtoken'],
  ['fcmv1', 'invalidcredentials'],
  ['wns', 'pnserror'],
];

/**
 * kill -9 of the real exporter process (node dist/main.js, trusting the simulator's throwaway
 * certificate through NODE_EXTRA_CA_CERTS) at random moments while it catches up on two days of
 * Azure Monitor minutes, restarts on the same state file, and requires the totals to equal the
 * fake's settled minutes exactly: a minute is counted once, with its cursor, in one transaction.
 *
 * Real clock: the minutes lie 5 minutes to 2 days in the past, so with settleDelay 1m every one is
 * settled. Catching up two days takes 8 windows of 6 hours per batch of names, 4 windows per batch
 * in a round, and every start reads at once: each process dies somewhere inside that work.
 */
describe('Azure Monitor crash recovery (kill -9 while catching up)', () => {
  const random = seededRandom(14);
  let folder: string;
  let certificate: ThrowawayCertificate;
  let simulator: AzureMonitorSimulator;
  let configPath: string;
  const truth = new Map<string, number>();
  let truthPushes = 0;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'pne-monitor-crash-'));
    certificate = makeThrowawayCertificate(folder);
    // Minutes show no total for 10 s after they end, then half of it for 20 s: all long past here.
    simulator = new AzureMonitorSimulator({
      tls: certificate,
      tenantId: monitorTenant,
      principals: [{ clientId: monitorClientId, clientSecret: monitorSecret }],
      hubs: [monitorResourceId],
      visibility: { noTotalMilliseconds: 10_000, partialMilliseconds: 20_000 },
    });
    await simulator.start();
    const newest = Math.floor(Date.now() / minute) * minute - 5 * minute;
    for (let index = 0; index < historyMinutes; index += 1) {
      for (const [service, outcome] of pushes) {
        const count = Math.floor(random() * 4);
        if (count > 0) simulator.metrics.addPush(monitorResourceId, service, outcome, count, newest - index * minute);
      }
    }
    const before = Date.now();
    for (const [service, outcome] of pushes) {
      truth.set(`${service}/${outcomeNames[outcome] ?? outcome}`, simulator.metrics.settledTotal(monitorResourceId, `outgoing.${service}.${outcome}`, before));
    }
    truthPushes = simulator.metrics.settledTotal(monitorResourceId, 'notificationhub.pushes', before);
    configPath = join(folder, 'config.yaml');
    writeFileSync(
      configPath,
      JSON.stringify({
        server: { listen: '127.0.0.1:0' },
        storage: { path: join(folder, 'state.db') },
        azureMonitor: [
          {
            name: target,
            resourceId: monitorResourceId,
            tenantId: monitorTenant,
            clientId: monitorClientId,
            clientSecret: monitorSecret,
            endpoint: simulator.url,
            authorityHost: simulator.url,
            settleDelay: '1m',
            initialLookback: '3d',
          },
        ],
      }),
    );
  });

  afterAll(async () => {
    await simulator?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  const start = () => ExporterProcess.start(['--config', configPath], { NODE_EXTRA_CA_CERTS: certificate.certFile });
  const outcomes = (samples: Sample[]) => groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { source, target });
  /** Every batch of names read to the present (notificationhub.pushes is in the first batch, wns in the last). */
  const caughtUp = (samples: Sample[]) =>
    sumOf(samples, 'push_notification_hub_pushes_total', { source, target }) === truthPushes && JSON.stringify([...outcomes(samples)].sort()) === JSON.stringify([...truth].sort());

  it('counts every settled minute exactly once across repeated kill -9 and restart', async () => {
    expect(truthPushes).toBeGreaterThan(historyMinutes);
    let kills = 0;
    let killedBehind = 0;
    let samples: Sample[] = [];
    for (let life = 0; life < 40; life += 1) {
      const exporter = start();
      const url = await exporter.waitForStart();
      await new Promise((resolve) => setTimeout(resolve, 150 + random() * 1_500));
      samples = parsePrometheusText((await httpGet(`${url}/metrics`)).text);
      exporter.kill('SIGKILL');
      expect((await exporter.exit()).signal).toBe('SIGKILL');
      kills += 1;
      // Never more than the fake has, at any moment: a repeated minute would show here first.
      expect(sumOf(samples, 'push_notification_hub_pushes_total', { source, target })).toBeLessThanOrEqual(truthPushes);
      for (const [series, total] of outcomes(samples)) expect(total, series).toBeLessThanOrEqual(truth.get(series) ?? 0);
      const counted = sumOf(samples, 'push_notification_outcomes_total', { source, target });
      if (counted > 0 && !caughtUp(samples)) killedBehind += 1;
      if (caughtUp(samples) && kills >= 4) break;
    }
    // The kills landed inside the catch-up, not only before or after it.
    expect(killedBehind).toBeGreaterThanOrEqual(2);
    expect(caughtUp(samples)).toBe(true);

    // Once more after the last kill: the new process reads again and adds nothing.
    const exporter = start();
    const url = await exporter.waitForStart();
    const requestsBefore = simulator.requests.metrics;
    const deadline = Date.now() + 30_000;
    while (simulator.requests.metrics === requestsBefore && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    samples = parsePrometheusText((await httpGet(`${url}/metrics`)).text);
    exporter.kill('SIGTERM');
    await exporter.exit();
    expect(simulator.requests.metrics).toBeGreaterThan(requestsBefore);
    expect(outcomes(samples)).toEqual(truth);
    expect(sumOf(samples, 'push_notification_hub_pushes_total', { source, target })).toBe(truthPushes);
    expect(sumOf(samples, 'push_notification_source_up', { source, target })).toBe(1);
    expect(exporter.stderr).not.toContain(monitorSecret);
  }, 240_000);
});
