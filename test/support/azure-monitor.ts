import { AzureMonitorSimulator } from '../../src/simulator/azure-monitor/server.js';
import { makeThrowawayCertificate, type ThrowawayCertificate } from '../../src/simulator/azure-monitor/certificate.js';
import type { Clock } from '../../src/time/clock.js';

export const monitorTenant = '72f988bf-0000-4000-8000-000000000001';
export const monitorClientId = '0c2a9d3e-0000-4000-8000-000000000002';
export const monitorSecret = 'monitor-client-secret-do-not-log-7Q~x';
export const monitorResourceId =
  '/subscriptions/00000000-0000-4000-8000-000000000003/resourceGroups/rg-push/providers/Microsoft.NotificationHubs/namespaces/contoso/notificationHubs/orders';

/** The fake Entra ID + ARM metrics API on https://127.0.0.1 with a throwaway certificate made in `folder`. */
export async function startMonitorSimulator(folder: string, clock: Clock, visibility?: { noTotalMilliseconds?: number; partialMilliseconds?: number }): Promise<{ simulator: AzureMonitorSimulator; certificate: ThrowawayCertificate }> {
  const certificate = makeThrowawayCertificate(folder);
  const simulator = new AzureMonitorSimulator({
    tls: certificate,
    tenantId: monitorTenant,
    principals: [{ clientId: monitorClientId, clientSecret: monitorSecret }],
    hubs: [monitorResourceId],
    clock,
    visibility,
  });
  await simulator.start();
  return { simulator, certificate };
}

/** The azureMonitor config entry for the simulated hub. */
export function monitorTarget(simulator: AzureMonitorSimulator, settings: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'orders-target',
    resourceId: monitorResourceId,
    tenantId: monitorTenant,
    clientId: monitorClientId,
    clientSecret: monitorSecret,
    endpoint: simulator.url,
    authorityHost: simulator.url,
    ...settings,
  };
}
