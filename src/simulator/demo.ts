import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { request } from 'undici';
import { parseConfig } from '../config/load.js';
import { startExporter } from '../exporter.js';
import { createLogger } from '../logging/logger.js';
import { EverliveSimulator } from './everlive/server.js';
import { NotificationHubsSimulator } from './notification-hubs/server.js';
import { realisticPlan } from './notification-hubs/traffic.js';
import { seededRandom } from './random.js';
import { SasTokenProvider } from '../sources/azure-notification-hubs/sas.js';
import { systemClock } from '../time/clock.js';
import { waitForSignal } from '../wait-for-signal.js';

const hubs = ['orders', 'marketing', 'alerts'];

/**
 * `npm run demo`: the exporter on the built-in simulator. A fake namespace with three hubs, a
 * sender that sends through the fake's send API and forwards each Location header to the intake
 * API, exactly as a real sender would. State lives in ./data/demo, never mixed with a real file.
 */
export async function runDemo(options: { logLevel?: string; port?: number; dataPath?: string } = {}): Promise<number> {
  const logger = createLogger({ level: options.logLevel ?? 'info' });
  const random = seededRandom(Date.now() & 0xffffffff);
  const keys = new Map(hubs.map((hub) => [hub, randomBytes(32).toString('base64')]));
  const simulator = new NotificationHubsSimulator({
    namespace: 'demo-namespace',
    hubs: hubs.map((name) => ({ name, keys: { DefaultFullSharedAccessSignature: keys.get(name) as string } })),
    random,
    planForSend: () => realisticPlan(random),
  });
  await simulator.start();
  const everliveKey = randomBytes(24).toString('base64url');
  const everlive = new EverliveSimulator({ appId: 'demo-app', masterKey: everliveKey });
  await everlive.start();
  const dataPath = options.dataPath ?? './data/demo/state.db';
  mkdirSync('./data/demo', { recursive: true });
  const token = randomBytes(18).toString('base64url');
  const config = parseConfig(
    JSON.stringify({
      server: { listen: `127.0.0.1:${options.port ?? 10130}`, apiTokens: [token] },
      storage: { path: dataPath },
      azureNotificationHubs: hubs.map((hub) => ({
        name: `demo-${hub}`,
        connectionString: simulator.connectionString(hub),
        hub,
        endpoint: simulator.url,
      })),
      everlive: [{ name: 'demo-legacy-app', endpoint: everlive.url, appId: 'demo-app', masterKey: everliveKey, schedule: '*/10 * * * * *', pageSize: 50 }],
    }),
  );
  const exporter = await startExporter({ config, logger });
  process.stdout.write(
    [
      '',
      'push-notification-exporter demo (simulated Azure Notification Hubs and Everlive)',
      `  metrics:      ${exporter.url}/metrics`,
      `  intake token: ${token}`,
      `  lookup:       curl -H 'Authorization: Bearer ${token}' ${exporter.url}/api/v1/notifications/demo-orders/<notificationId>`,
      `  state file:   ${dataPath}`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  // The sender signs its sends like any Notification Hubs client.
  const senders = new Map(
    hubs.map((hub) => [
      hub,
      new SasTokenProvider({
        resourceUri: `https://${simulator.namespaceHost}/${hub}`,
        keyName: 'DefaultFullSharedAccessSignature',
        key: keys.get(hub) as string,
        clock: systemClock,
      }),
    ]),
  );
  let sending = true;
  const sender = (async () => {
    while (sending) {
      const hub = hubs[Math.floor(random() * hubs.length)] as string;
      try {
        await sendAndForward(simulator.url, hub, senders.get(hub)?.authorizationHeader() ?? '', exporter.url, token);
      } catch (error) {
        logger.warn({ error: String(error) }, 'demo sender failed');
      }
      await new Promise((resolve) => setTimeout(resolve, 150 + random() * 350));
    }
  })();

  // Everlive feedback grows in the background: new notifications, and devices reporting back.
  const recent: string[] = [];
  const feedbackTimer = setInterval(() => {
    const platforms = ['4', '3', '1'].filter(() => random() < 0.7);
    recent.push(everlive.createNotification({ platforms: platforms.length > 0 ? platforms : ['3'] }));
    if (recent.length > 20) recent.shift();
    for (const id of recent.slice(-5)) {
      const platform = random() < 0.5 ? '4' : '3';
      everlive.addFeedback(id, platform, { Sent: Math.floor(random() * 20), Failed: random() < 0.2 ? 1 : 0, Deactivated: random() < 0.05 ? 1 : 0 });
    }
  }, 2_000);

  await waitForSignal();
  sending = false;
  clearInterval(feedbackTimer);
  await sender;
  await exporter.stop();
  await simulator.stop();
  await everlive.stop();
  return 0;
}

/** What a sender does: send, read the Location header, hand it to the exporter. */
async function sendAndForward(simulatorUrl: string, hub: string, authorization: string, exporterUrl: string, token: string): Promise<void> {
  const sent = await request(`${simulatorUrl}/${hub}/messages/?api-version=2020-06`, {
    method: 'POST',
    headers: { authorization, 'x-ms-version': '2020-06', 'content-type': 'application/json' },
    body: '{"aps":{"alert":"demo"}}',
  });
  await sent.body.dump();
  const location = sent.headers.location;
  if (sent.statusCode !== 201 || typeof location !== 'string') throw new Error(`send answered ${sent.statusCode}`);
  const forwarded = await request(`${exporterUrl}/api/v1/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ location }),
  });
  await forwarded.body.dump();
}
