import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../config/load.js';
import { startExporter } from '../exporter.js';
import { createLogger, type LoggingChoice } from '../logging/logger.js';
import { histogramBounds } from '../metrics/names.js';
import { SqliteStorage } from '../tracking/sqlite/sqlite-storage.js';
import { StoreError } from '../tracking/storage.js';
import { version } from '../version.js';
import { waitForSignal } from '../wait-for-signal.js';
import { startDemoMonitor } from './azure-monitor/demo-monitor.js';
import { EverliveSimulator } from './everlive/server.js';
import { growEverliveFeedback, MinuteCounts, SimulatedSender, trafficPlanner } from './generated-traffic.js';
import { NotificationHubsSimulator } from './notification-hubs/server.js';
import { realisticPlan } from './notification-hubs/traffic.js';
import { seededRandom } from './random.js';

const hubs = ['orders', 'marketing', 'alerts'];
const keyName = 'DefaultFullSharedAccessSignature';

export interface DemoOptions {
  logging?: LoggingChoice;
  /** host:port of the exporter; 127.0.0.1:10130 by default (0.0.0.0:10130 in a container). */
  listen?: string;
  /** Where the demo's own state file lives; never a real state file. */
  dataDirectory?: string;
}

/** The demo's per-notification lines, written at debug: a summary a minute says how many there were. */
const perNotificationMessages = new Set(['notification finished with failures', 'PNS error details read', 'notification has failed deliveries']);

/**
 * `npm run demo`: the exporter on the built-in simulators. A fake Notification Hubs namespace with
 * three hubs and a sender that sends through it and forwards each Location header to the intake
 * API, as a real sender would; a fake Everlive app whose feedback grows; the exporter on both.
 *
 * Every run starts on fresh state: the simulators live in memory, so the messages a previous run
 * was still tracking exist nowhere any more (keeping the simulator's keys and port would not bring
 * them back, only turn them into 404s and, 30 minutes later, not_found expiries).
 */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const counts = new MinuteCounts();
  const logger = createLogger({
    ...options.logging,
    demote: { messages: perNotificationMessages, onDemoted: (message) => counts.add(summaryNames.get(message) ?? message) },
  });
  const dataDirectory = options.dataDirectory ?? './data/demo';
  const statePath = join(dataDirectory, demoStateFile);
  try {
    removePreviousDemoState(statePath);
  } catch (error) {
    logger.fatal({ error: error instanceof Error ? error.message : String(error) }, 'cannot start the demo');
    return 1;
  }
  const random = seededRandom(Date.now() & 0xffffffff);
  const keys = new Map(hubs.map((hub) => [hub, randomBytes(32).toString('base64')]));
  // The same hubs as Azure Monitor sees them (whole, per minute): a fake Entra ID + ARM on https.
  const startedMonitor = await startDemoMonitor(hubs, (hub) => `demo-${hub}`);
  const monitor = 'error' in startedMonitor ? undefined : startedMonitor;
  if ('error' in startedMonitor) logger.warn({ reason: startedMonitor.error }, 'demo runs without the Azure Monitor source');
  const planForSend = trafficPlanner(random, Date.now(), (hub, plan) => monitor?.record(hub, plan));
  const simulator = new NotificationHubsSimulator({
    namespace: 'demo-namespace',
    hubs: hubs.map((name) => ({ name, keys: { [keyName]: keys.get(name) as string } })),
    random,
    planForSend,
  });
  await simulator.start();
  const everliveKey = randomBytes(24).toString('base64url');
  const everlive = new EverliveSimulator({ appId: 'demo-app', masterKey: everliveKey });
  await everlive.start();

  mkdirSync(dataDirectory, { recursive: true });
  const token = randomBytes(18).toString('base64url');
  const config = parseConfig(
    JSON.stringify({
      server: { listen: options.listen ?? '127.0.0.1:10130', apiTokens: [token] },
      storage: { path: statePath },
      azureNotificationHubs: hubs.map((hub) => ({
        name: `demo-${hub}`,
        connectionString: simulator.connectionString(hub),
        hub,
        endpoint: simulator.url,
        // The simulator serves the error-details blobs itself, over plain http on loopback.
        errorDetails: { allowedHosts: [new URL(simulator.url).host] },
      })),
      everlive: [{ name: 'demo-legacy-app', endpoint: everlive.url, appId: 'demo-app', masterKey: everliveKey, schedule: '*/10 * * * * *', pageSize: 50 }],
      azureMonitor: monitor?.targets ?? [],
    }),
  );
  let exporter;
  try {
    exporter = await startExporter({ config, logger, azureMonitorTrust: monitor ? { ca: monitor.ca } : undefined });
  } catch (error) {
    logger.fatal({ error: error instanceof Error ? error.message : String(error) }, 'cannot start');
    await Promise.all([simulator.stop(), everlive.stop(), monitor?.stop()]);
    return 1;
  }
  logger.info({ address: exporter.address, url: exporter.url, metrics: `${exporter.url}/metrics`, version }, 'exporter started');
  // A message the sender never forwards, for the intake example: `curl` it and look it up.
  const example = simulator.createMessage('orders', realisticPlan(random));
  process.stdout.write(banner({ exporterUrl: exporter.url, token, namespaceHost: simulator.namespaceHost, location: simulator.locationOf('orders', example), notificationId: example, statePath }));

  const sender = new SimulatedSender({
    simulator,
    hubs: hubs.map((name) => ({ name, keyName, key: keys.get(name) as string })),
    intakeUrl: `${exporter.url}/api/v1/notifications`,
    intakeToken: token,
    random,
    logger,
    counts,
  });
  const sending = sender.run();
  const feedback = growEverliveFeedback(everlive, random, counts);
  counts.start(logger, 'demo traffic in the last minute');

  await waitForSignal();
  logger.info('stopping: finishing in-flight polls and writes');
  counts.stop();
  sender.stop();
  clearInterval(feedback);
  await sending;
  await exporter.stop();
  await simulator.stop();
  await everlive.stop();
  await monitor?.stop();
  logger.info('stopped');
  return 0;
}

/** Names of the per-notification lines in the minute summary. */
const summaryNames = new Map([
  ['notification finished with failures', 'notificationsWithFailures'],
  ['PNS error details read', 'pnsErrorDetailsRead'],
  ['notification has failed deliveries', 'everliveNotificationsWithFailures'],
]);

/** The demo's state file: a name no real configuration uses by default, so it is the only file removed. */
const demoStateFile = 'demo-state.db';

/**
 * Removes the previous run's demo state file (with its -wal and -shm), unless a demo still runs on
 * it: opening it takes the same exclusive lock the exporter holds, so a running demo is refused.
 */
function removePreviousDemoState(statePath: string): void {
  if (!existsSync(statePath) && !existsSync(`${statePath}-wal`)) return;
  if (existsSync(statePath)) {
    try {
      // SQLite closes at once: the promise only fits the Storage seam.
      void SqliteStorage.open(statePath, histogramBounds).close();
    } catch (error) {
      if (error instanceof StoreError && /in use by another process/.test(error.message)) {
        throw new Error(`${statePath} is in use: another demo is running on this folder (stop it, or give --data-dir another folder)`);
      }
      // Damaged demo state is just as disposable.
    }
  }
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${statePath}${suffix}`, { force: true });
}

function banner(options: { exporterUrl: string; token: string; namespaceHost: string; location: string; notificationId: string; statePath: string }): string {
  const { exporterUrl, token } = options;
  return [
    '',
    'push-notification-exporter demo (simulated Azure Notification Hubs, Azure Monitor and Everlive)',
    `  metrics:      ${exporterUrl}/metrics`,
    `  namespace:    ${options.namespaceHost}, hubs ${hubs.join(', ')} (targets ${hubs.map((hub) => `demo-${hub}`).join(', ')})`,
    `  intake token: ${token}`,
    '  intake:       a notification the sender has not forwarded, sent to the exporter as README "Intake API" shows:',
    `    curl -sS -X POST ${exporterUrl}/api/v1/notifications -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' -d '{"location": "${options.location}"}'`,
    '  lookup:       its tracking record, Completed a few seconds later:',
    `    curl -sS -H 'Authorization: Bearer ${token}' ${exporterUrl}/api/v1/notifications/demo-orders/${options.notificationId}`,
    `  state file:   ${options.statePath} (fresh every run)`,
    'Every 5 minutes the orders hub has a 90-second spike of APNs WrongToken failures.',
    'Per-notification failure lines are logged at debug (--log.level debug); a summary comes every minute.',
    'Press Ctrl-C to stop.',
    '',
  ].join('\n');
}
