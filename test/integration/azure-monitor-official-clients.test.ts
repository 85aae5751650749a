import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MonitorClient } from '@azure/arm-monitor';
import { ClientSecretCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AzureMonitorSimulator } from '../../src/simulator/azure-monitor/server.js';
import { ManualClock } from '../../src/time/clock.js';
import { monitorClientId, monitorResourceId, monitorSecret, monitorTenant, startMonitorSimulator } from '../support/azure-monitor.js';

/**
 * The simulator must be what the official clients accept, not only what ours sends: Microsoft's
 * @azure/identity (MSAL underneath) gets a token from the fake Entra ID, and @azure/arm-monitor 7.x
 * reads the fake ARM metrics with it.
 */
describe('Azure Monitor simulator with the official clients', () => {
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 12, 0, 0));
  let folder: string;
  let simulator: AzureMonitorSimulator;
  let ca: string;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'pne-monitor-sdk-'));
    const started = await startMonitorSimulator(folder, clock);
    simulator = started.simulator;
    ca = started.certificate.cert;
  });
  afterAll(async () => {
    await simulator?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  const credential = (secret = monitorSecret) =>
    new ClientSecretCredential(monitorTenant, monitorClientId, secret, { authorityHost: simulator.url, disableInstanceDiscovery: true, tlsOptions: { ca } });

  it('@azure/identity gets a token through the discovery document and the token endpoint', async () => {
    const token = await credential().getToken(`${simulator.url}/.default`);
    expect(token.token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now());
  });

  it("@azure/identity reports a wrong secret with Entra ID's OAuth code and AADSTS number", async () => {
    // MSAL's ServerError reaches the caller as AuthenticationRequiredError, its message starting with the OAuth code.
    await expect(credential('wrong-secret').getToken(`${simulator.url}/.default`)).rejects.toThrow(/^invalid_client: .*AADSTS7000215/s);
  });

  it('@azure/arm-monitor 7.x reads per-minute totals and the metric definitions', async () => {
    simulator.metrics.addPush(monitorResourceId, 'apns', 'success', 5, clock.now() - 10 * 60_000);
    const client = new MonitorClient(credential(), '00000000-0000-4000-8000-000000000003', { endpoint: simulator.url, tlsOptions: { ca } });
    const answer = await client.metrics.list(monitorResourceId, {
      metricnames: 'outgoing.apns.success,notificationhub.pushes',
      timespan: `${new Date(clock.now() - 15 * 60_000).toISOString()}/${new Date(clock.now()).toISOString()}`,
      interval: 'PT1M',
      aggregation: 'Total',
    });
    const totals = answer.value.map((metric) => [metric.name.value, metric.timeseries?.[0]?.data?.reduce((sum, point) => sum + (point.total ?? 0), 0)]);
    expect(totals).toEqual([['outgoing.apns.success', 5], ['notificationhub.pushes', 5]]);
    const definitions = [];
    for await (const definition of client.metricDefinitions.list(monitorResourceId)) definitions.push(definition.name?.value);
    expect(definitions).toContain('outgoing.wns.wrongtoken');
  });
});
