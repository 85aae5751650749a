/**
 * Phase 3, intake: the built exporter as its own process, loaded from a second process through
 * the intake API with single-item requests and with batches of 500.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { runPhase } from './lib/child.js';
import { ExporterProcess, sumSamples } from './lib/exporter-process.js';
import { startPausedUpstream } from './lib/paused-upstream.js';
import { benchNamespace, benchServerSettings, connectionString, intakeToken } from './lib/plans.js';
import type { IntakeLoadResult } from './intake-load.js';

export interface IntakeResult {
  single: IntakeLoadResult;
  batches: IntakeLoadResult;
  acceptedCounted: number;
}

export function exporterProcessConfig(folder: string, endpoint: string, hubs = ['bench']) {
  return {
    server: benchServerSettings(),
    storage: { path: join(folder, 'state.db') },
    azureNotificationHubs: hubs.map((hub) => ({
      name: hub,
      connectionString: connectionString(`${benchNamespace}.servicebus.windows.net`),
      hub,
      endpoint,
    })),
  };
}

export async function measureIntake(folder: string, sizes: { singles: number; batches: number; connections: number }): Promise<IntakeResult> {
  mkdirSync(folder, { recursive: true });
  const upstream = await startPausedUpstream();
  const exporter = ExporterProcess.start(folder, exporterProcessConfig(folder, upstream.url));
  try {
    await exporter.waitForStart();
    const load = { url: exporter.url, token: intakeToken, target: 'bench', connections: sizes.connections };
    const single = await runPhase<IntakeLoadResult>('intake-load', { ...load, prefix: 'single-', requests: sizes.singles, itemsPerRequest: 1 });
    const batches = await runPhase<IntakeLoadResult>('intake-load', { ...load, prefix: 'batch-', requests: sizes.batches, itemsPerRequest: 500 });
    const text = await exporter.scrape();
    const acceptedCounted = sumSamples(text.split('\n').filter((line) => line.includes('result="accepted"')).join('\n'), 'push_notification_intake_notifications_total');
    await exporter.stop();
    return { single, batches, acceptedCounted };
  } finally {
    exporter.kill();
    await upstream.close();
  }
}
