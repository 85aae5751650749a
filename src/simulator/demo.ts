import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { parseConfig } from '../config/load.js';
import { startExporter } from '../exporter.js';
import { createLogger } from '../logging/logger.js';
import { SasTokenProvider } from '../sources/azure-notification-hubs/sas.js';
import { systemClock } from '../time/clock.js';
import { waitForSignal } from '../wait-for-signal.js';
import { startDemoMonitor } from './azure-monitor/demo-monitor.js';
import { EverliveSimulator } from './everlive/server.js';
import type { MessagePlan } from './notification-hubs/message-plan.js';
import { NotificationHubsSimulator } from './notification-hubs/server.js';
import { abandonedPlan, realisticPlan, type FailureSpike } from './notification-hubs/traffic.js';
import { seededRandom } from './random.js';

const hubs = ['orders', 'marketing', 'alerts'];
const keyName = 'DefaultFullSharedAccessSignature';
// Every 5 minutes, for 90 seconds, one platform of one hub fails far more than usual.
const spikeEveryMilliseconds = 5 * 60_000;
const spikeLastsMilliseconds = 90_000;
const spike: FailureSpike = { collection: 'ApnsOutcomeCounts', outcome: 'WrongToken', share: 0.4 };

export interface DemoOptions {
  logLevel?: string;
  /** host:port of the exporter; 127.0.0.1:10130 by default (0.0.0.0:10130 in a container). */
  listen?: string;
  /** Where the demo's own state file lives; never a real state file. */
  dataDirectory?: string;
}

/**
 * `npm run demo`: the exporter on the built-in simulators. A fake Notification Hubs namespace with
 * three hubs and a sender that sends through it and forwards each Location header to the intake
 * API, as a real sender would; a fake Everlive app whose feedback grows; the exporter on both.
 */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const logger = createLogger({ level: options.logLevel ?? 'info' });
  const random = seededRandom(Date.now() & 0xffffffff);
  const startedAt = Date.now();
  const keys = new Map(hubs.map((hub) => [hub, randomBytes(32).toString('base64')]));
  let sent = 0;
  const planForSend = (hub: string): MessagePlan => {
    sent += 1;
    // One Abandoned message early on, so there is something to see at once; then ~1.5% at random.
    if (sent === 3) return abandonedPlan(random);
    const elapsed = Date.now() - startedAt;
    const spiking = hub === 'orders' && elapsed % spikeEveryMilliseconds < spikeLastsMilliseconds && elapsed > 60_000;
    // Failed deliveries get a PNS error-details blob, written a little after the send completes.
    const plan = { ...realisticPlan(random, spiking ? spike : undefined), errorDetails: { notReadyMilliseconds: 2_000 + random() * 20_000 } };
    monitor?.record(hub, plan);
    return plan;
  };
  // The same hubs as Azure Monitor sees them (whole, per minute): a fake Entra ID + ARM on https.
  const startedMonitor = await startDemoMonitor(hubs, (hub) => `demo-${hub}`);
  const monitor = 'error' in startedMonitor ? undefined : startedMonitor;
  if ('error' in startedMonitor) logger.warn({ reason: startedMonitor.error }, 'demo runs without the Azure Monitor source');
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

  const dataDirectory = options.dataDirectory ?? './data/demo';
  mkdirSync(dataDirectory, { recursive: true });
  const token = randomBytes(18).toString('base64url');
  const config = parseConfig(
    JSON.stringify({
      server: { listen: options.listen ?? '127.0.0.1:10130', apiTokens: [token] },
      storage: { path: join(dataDirectory, 'state.db') },
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
  const exporter = await startExporter({ config, logger, azureMonitorTrust: monitor ? { ca: monitor.ca } : undefined });
  process.stdout.write(
    [
      '',
      'push-notification-exporter demo (simulated Azure Notification Hubs and Everlive)',
      `  metrics:      ${exporter.url}/metrics`,
      `  intake token: ${token}`,
      `  lookup:       curl -H 'Authorization: Bearer ${token}' ${exporter.url}/api/v1/notifications/demo-orders/<notificationId>`,
      `  state file:   ${join(dataDirectory, 'state.db')}`,
      'Every 5 minutes the orders hub has a 90-second spike of APNs WrongToken failures.',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  const sender = new DemoSender(simulator, keys, exporter.url, token, random);
  const sending = sender.run(logger);
  const feedback = growEverliveFeedback(everlive, random);

  await waitForSignal();
  sender.stop();
  clearInterval(feedback);
  await sending;
  await exporter.stop();
  await simulator.stop();
  await everlive.stop();
  await monitor?.stop();
  return 0;
}

/** What a sender does: send through the hub, read the Location header, hand it to the exporter. */
class DemoSender {
  private running = true;
  private readonly tokens: Map<string, SasTokenProvider>;

  constructor(
    private readonly simulator: NotificationHubsSimulator,
    keys: Map<string, string>,
    private readonly exporterUrl: string,
    private readonly intakeToken: string,
    private readonly random: () => number,
  ) {
    // Sends are signed like any Notification Hubs client's.
    this.tokens = new Map(
      hubs.map((hub) => [
        hub,
        new SasTokenProvider({ resourceUri: `https://${simulator.namespaceHost}/${hub}`, keyName, key: keys.get(hub) as string, clock: systemClock }),
      ]),
    );
  }

  stop(): void {
    this.running = false;
  }

  async run(logger: { warn: (fields: object, message: string) => void }): Promise<void> {
    while (this.running) {
      const hub = hubs[Math.floor(this.random() * hubs.length)] as string;
      try {
        await this.sendAndForward(hub);
      } catch (error) {
        logger.warn({ error: String(error) }, 'demo sender failed');
      }
      await new Promise((resolve) => setTimeout(resolve, 150 + this.random() * 350));
    }
  }

  private async sendAndForward(hub: string): Promise<void> {
    const sent = await request(`${this.simulator.url}/${hub}/messages/?api-version=2020-06`, {
      method: 'POST',
      headers: {
        authorization: this.tokens.get(hub)?.authorizationHeader() ?? '',
        'x-ms-version': '2020-06',
        'content-type': 'application/json',
        'servicebusnotification-format': 'apple',
      },
      body: '{"aps":{"alert":"demo"}}',
    });
    await sent.body.dump();
    const location = sent.headers.location;
    if (sent.statusCode !== 201 || typeof location !== 'string') throw new Error(`send answered ${sent.statusCode}`);
    const forwarded = await request(`${this.exporterUrl}/api/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.intakeToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ location }),
    });
    await forwarded.body.dump();
  }
}

/** Everlive feedback grows in the background: new notifications, and devices reporting back. */
function growEverliveFeedback(everlive: EverliveSimulator, random: () => number): NodeJS.Timeout {
  const recent: string[] = [];
  return setInterval(() => {
    const platforms = ['4', '3', '1'].filter(() => random() < 0.7);
    recent.push(everlive.createNotification({ platforms: platforms.length > 0 ? platforms : ['3'] }));
    if (recent.length > 20) recent.shift();
    for (const id of recent.slice(-5)) {
      const platform = random() < 0.5 ? '4' : '3';
      everlive.addFeedback(id, platform, { Sent: Math.floor(random() * 20), Failed: random() < 0.2 ? 1 : 0, Deactivated: random() < 0.05 ? 1 : 0 });
    }
  }, 2_000);
}
