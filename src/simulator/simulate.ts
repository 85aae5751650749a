import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseListenAddress, type ListenAddress } from '../config/load.js';
import { createLogger, type LoggingChoice } from '../logging/logger.js';
import { waitForSignal } from '../wait-for-signal.js';
import { EverliveSimulator } from './everlive/server.js';
import { growEverliveFeedback, MinuteCounts, SimulatedSender, trafficPlanner } from './generated-traffic.js';
import { NotificationHubsSimulator } from './notification-hubs/server.js';
import { seededRandom } from './random.js';
import { urlHost } from './url-host.js';

export interface SimulateOptions {
  logging?: LoggingChoice;
  /** Where the Notification Hubs simulator listens (Everlive: the next port). */
  listen?: string;
  /** Where to write the exporter configuration; stdout when absent. */
  writeConfig?: string;
  /** The exporter's server.listen in that configuration, where sends are forwarded. */
  exporterAddress?: string;
}

const namespace = 'simulated-namespace';
const hubs = ['orders', 'marketing', 'alerts'];
const keyName = 'DefaultFullSharedAccessSignature';
const everliveAppId = 'simulated-app';

/**
 * The simulator's identity is the same on every run (namespace, keys, token, default ports), so a
 * written configuration stays valid and an exporter left running keeps working when the simulator
 * restarts. These are keys of a local fake, derived from fixed text: they protect nothing.
 */
function stableSecret(purpose: string): string {
  return createHash('sha256').update(`push-notification-exporter simulator: ${purpose}`).digest('base64');
}

/**
 * `push-notification-exporter simulate`: the Notification Hubs and Everlive simulators standalone,
 * with generated traffic, for an exporter the user runs on the configuration written here. The
 * simulated sender forwards each send's Location to that exporter's intake, as a real sender
 * would; while the exporter is not running the Locations wait (up to 10,000) and go once it is.
 */
export async function runSimulate(options: SimulateOptions = {}): Promise<number> {
  // Listen for SIGTERM/SIGINT from the start: a stop asked for while starting up is a clean stop too.
  const stopSignal = waitForSignal();
  const counts = new MinuteCounts();
  const logger = createLogger({ ...options.logging });
  const listen = parseListenAddress(options.listen ?? '127.0.0.1:18080') as ListenAddress;
  const exporterAddress = parseListenAddress(options.exporterAddress ?? '127.0.0.1:10130') as ListenAddress;
  const random = seededRandom(Date.now() & 0xffffffff);
  const keys = new Map(hubs.map((hub) => [hub, stableSecret(`hub ${hub}`)]));
  const masterKey = stableSecret('everlive master key').replace(/[^A-Za-z0-9]/g, '');
  const intakeToken = stableSecret('intake token').replace(/[^A-Za-z0-9]/g, '');

  const simulator = new NotificationHubsSimulator({
    namespace,
    hubs: hubs.map((name) => ({ name, keys: { [keyName]: keys.get(name) as string } })),
    random,
    planForSend: trafficPlanner(random, Date.now()),
  });
  const everlive = new EverliveSimulator({ appId: everliveAppId, masterKey });
  try {
    await simulator.start(listen.port, listen.host);
    await everlive.start(listen.port === 0 ? 0 : listen.port + 1, listen.host);
  } catch (error) {
    // main() exits the process on return: nothing half-started lingers.
    logger.fatal({ listen: options.listen ?? '127.0.0.1:18080', error: (error as NodeJS.ErrnoException).code ?? String(error) }, 'cannot start the simulators');
    return 1;
  }

  const exporterUrl = `http://${urlHost(exporterAddress.host)}:${exporterAddress.port}`;
  const config = exporterConfig({ simulator, everlive, keys, masterKey, intakeToken, exporterAddress });
  if (options.writeConfig) {
    mkdirSync(dirname(options.writeConfig), { recursive: true });
    writeFileSync(options.writeConfig, config);
  }
  logger.info(
    { notificationHubs: simulator.url, everlive: everlive.url, namespace: simulator.namespaceHost, config: options.writeConfig ?? 'stdout', forwardTo: exporterUrl },
    'simulators started',
  );
  process.stdout.write(
    [
      '',
      'push-notification-exporter simulate (simulated Azure Notification Hubs and Everlive, with generated traffic)',
      `  Notification Hubs: ${simulator.url}  namespace ${simulator.namespaceHost}, hubs ${hubs.join(', ')}`,
      `  Everlive:          ${everlive.url}  app ${everliveAppId}`,
      `  sends forwarded to ${exporterUrl}/api/v1/notifications (kept while no exporter answers there)`,
      options.writeConfig
        ? `  run the exporter:  node dist/main.js --config.file ${options.writeConfig}`
        : '  run the exporter on this configuration (or write it to a file with --write-config FILE):',
      'Press Ctrl-C to stop.',
      '',
      ...(options.writeConfig ? [] : [config]),
    ].join('\n'),
  );

  const sender = new SimulatedSender({
    simulator,
    hubs: hubs.map((name) => ({ name, keyName, key: keys.get(name) as string })),
    intakeUrl: `${exporterUrl}/api/v1/notifications`,
    intakeToken,
    random,
    logger,
    counts,
  });
  const sending = sender.run();
  const feedback = growEverliveFeedback(everlive, random, counts);
  counts.start(logger, 'simulated traffic in the last minute', () => ({ waiting: sender.waiting }));

  await stopSignal;
  logger.info('stopping');
  counts.stop();
  sender.stop();
  clearInterval(feedback);
  await sending;
  await Promise.all([simulator.stop(), everlive.stop()]);
  logger.info('stopped');
  return 0;
}

function exporterConfig(parts: {
  simulator: NotificationHubsSimulator;
  everlive: EverliveSimulator;
  keys: Map<string, string>;
  masterKey: string;
  intakeToken: string;
  exporterAddress: ListenAddress;
}): string {
  const { simulator, everlive, exporterAddress } = parts;
  const quote = (text: string) => JSON.stringify(text);
  const listen = exporterAddress.host.includes(':') ? `[${exporterAddress.host}]:${exporterAddress.port}` : `${exporterAddress.host}:${exporterAddress.port}`;
  return [
    '# Written by `push-notification-exporter simulate`: an exporter configuration for the simulators.',
    `# Notification Hubs simulator ${simulator.url}, Everlive simulator ${everlive.url}. The keys are`,
    '# the simulator\'s own (the same on every run); change anything else to try your own settings.',
    'server:',
    `  listen: ${quote(listen)}`,
    `  apiTokens: [${quote(parts.intakeToken)}]   # the simulated sender forwards with this token`,
    'storage:',
    '  path: "./data/simulate/state.db"',
    'azureNotificationHubs:',
    ...hubs.flatMap((hub) => [
      `  - name: ${quote(`sim-${hub}`)}`,
      `    connectionString: ${quote(simulator.connectionString(hub))}`,
      `    hub: ${quote(hub)}`,
      `    endpoint: ${quote(simulator.url)}`,
      '    errorDetails:',
      `      allowedHosts: [${quote(new URL(simulator.url).host)}]   # the simulator serves the PNS error-details blobs`,
    ]),
    'everlive:',
    '  - name: "sim-legacy-app"',
    `    endpoint: ${quote(everlive.url)}`,
    `    appId: ${quote(everliveAppId)}`,
    `    masterKey: ${quote(parts.masterKey)}`,
    '    schedule: "*/10 * * * * *"',
    '    pageSize: 50',
    '',
  ].join('\n');
}
