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

export function exporterProcessConfig(folder: string, endpoint: string, hubs = ['bench'], storage: Record<string, unknown> = { path: join(folder, 'state.db') }) {
  return {
    server: benchServerSettings(),
    storage,
    azureNotificationHubs: hubs.map((hub) => ({
      name: hub,
      connectionString: connectionString(`${benchNamespace}.servicebus.windows.net`),
      hub,
      endpoint,
    })),
  };
}

export interface IntakeSizes {
  singles: number;
  /** Connections of the single-item load: senders forwarding one ID per send, many at once. */
  singleConnections: number;
  batches: number;
  batchConnections: number;
}

/** On the SQLite file, or with `postgresUrl` on that (empty) PostgreSQL database. */
export async function measureIntake(folder: string, sizes: IntakeSizes, postgresUrl?: string): Promise<IntakeResult> {
  mkdirSync(folder, { recursive: true });
  const upstream = await startPausedUpstream();
  const storage = postgresUrl ? { postgres: { connectionString: postgresUrl, replicaId: 'bench' } } : undefined;
  const exporter = ExporterProcess.start(folder, exporterProcessConfig(folder, upstream.url, ['bench'], storage));
  try {
    await exporter.waitForStart();
    const load = { url: exporter.url, token: intakeToken, target: 'bench' };
    const single = await runPhase<IntakeLoadResult>('intake-load', {
      ...load,
      prefix: 'single-',
      requests: sizes.singles,
      itemsPerRequest: 1,
      connections: sizes.singleConnections,
    });
    const batches = await runPhase<IntakeLoadResult>('intake-load', {
      ...load,
      prefix: 'batch-',
      requests: sizes.batches,
      itemsPerRequest: 500,
      connections: sizes.batchConnections,
    });
    const text = await exporter.scrape();
    const acceptedCounted = sumSamples(text.split('\n').filter((line) => line.includes('result="accepted"')).join('\n'), 'push_notification_intake_notifications_total');
    await exporter.stop();
    return { single, batches, acceptedCounted };
  } finally {
    exporter.kill();
    await upstream.close();
  }
}
