import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessagePlan } from '../notification-hubs/message-plan.js';
import { makeThrowawayCertificate } from './certificate.js';
import { monitorMetricOf } from './hub-metrics.js';
import { AzureMonitorSimulator } from './server.js';

export interface DemoMonitor {
  /** azureMonitor config entries, one per hub, named like the hub's azureNotificationHubs target. */
  targets: Record<string, unknown>[];
  /** The throwaway certificate the exporter in this process trusts. */
  ca: string;
  /** Counts a send's final outcomes into the hub's per-minute metrics, as Azure Monitor would. */
  record(hub: string, plan: MessagePlan): void;
  stop(): Promise<void>;
}

/**
 * The demo's fake Azure Monitor: the same hubs seen whole, per minute, beside their per-message
 * telemetry. Undefined (with the reason) when no certificate can be made (openssl missing).
 */
export async function startDemoMonitor(hubs: readonly string[], targetName: (hub: string) => string): Promise<DemoMonitor | { error: string }> {
  const folder = mkdtempSync(join(tmpdir(), 'pne-demo-monitor-'));
  let certificate;
  try {
    certificate = makeThrowawayCertificate(folder);
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    return { error: (error as Error).message };
  }
  const tenantId = randomUUID();
  const clientId = randomUUID();
  const clientSecret = randomBytes(24).toString('base64url');
  const resourceId = (hub: string) => `/subscriptions/${tenantId}/resourceGroups/demo/providers/Microsoft.NotificationHubs/namespaces/demo-namespace/notificationHubs/${hub}`;
  // Minutes show 30 s after they end, so the exporter's settleDelay of 1m counts final totals.
  const simulator = new AzureMonitorSimulator({
    tls: certificate,
    tenantId,
    principals: [{ clientId, clientSecret }],
    hubs: hubs.map(resourceId),
    visibility: { noTotalMilliseconds: 30_000, partialMilliseconds: 0 },
  });
  await simulator.start();
  return {
    targets: hubs.map((hub) => ({
      name: targetName(hub),
      resourceId: resourceId(hub),
      tenantId,
      clientId,
      clientSecret,
      endpoint: simulator.url,
      authorityHost: simulator.url,
      settleDelay: '1m',
      initialLookback: '5m',
    })),
    ca: certificate.cert,
    record(hub, plan) {
      const now = Date.now();
      simulator.metrics.add(resourceId(hub), 'incoming', 1, now);
      simulator.metrics.add(resourceId(hub), 'incoming.all.requests', 1, now);
      for (const [collection, outcomes] of Object.entries(plan.outcomes)) {
        for (const [outcome, count] of Object.entries(outcomes)) {
          const metric = monitorMetricOf(collection, outcome);
          if (metric) simulator.metrics.addPush(resourceId(hub), metric.split('.')[1] as string, metric.split('.')[2] as string, count, now);
        }
      }
    },
    async stop() {
      await simulator.stop();
      rmSync(folder, { recursive: true, force: true });
    },
  };
}
