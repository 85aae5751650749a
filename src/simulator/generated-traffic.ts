import { request } from 'undici';
import type { Logger } from '../logging/logger.js';
import { SasTokenProvider } from '../sources/azure-notification-hubs/sas.js';
import { systemClock } from '../time/clock.js';
import type { EverliveSimulator } from './everlive/server.js';
import type { MessagePlan } from './notification-hubs/message-plan.js';
import type { NotificationHubsSimulator } from './notification-hubs/server.js';
import { abandonedPlan, realisticPlan, type FailureSpike } from './notification-hubs/traffic.js';

/** The most Locations kept while the exporter cannot be reached; older ones are dropped (and counted). */
const backlogLimit = 10_000;
/** The intake takes up to 1000 items per request (design.md "Intake API"). */
const batchLimit = 1_000;

// Every 5 minutes, for 90 seconds, one platform of one hub fails far more than usual.
const spikeEveryMilliseconds = 5 * 60_000;
const spikeLastsMilliseconds = 90_000;
const spike: FailureSpike = { collection: 'ApnsOutcomeCounts', outcome: 'WrongToken', share: 0.4 };
export const spikeHub = 'orders';

/**
 * The plan of each send: one Abandoned message early on, so there is something to see at once,
 * then a realistic mix (~1.5% Abandoned), with a failure spike on the orders hub every 5 minutes.
 * Failed deliveries get a PNS error-details blob, written a little after the send completes.
 */
export function trafficPlanner(
  random: () => number,
  startedAt: number,
  /** Sees every plan handed out (the demo's Azure Monitor fake counts the same sends per minute). */
  onPlan?: (hub: string, plan: MessagePlan) => void,
): (hub: string) => MessagePlan {
  let sent = 0;
  return (hub) => {
    sent += 1;
    const elapsed = Date.now() - startedAt;
    const spiking = hub === spikeHub && elapsed % spikeEveryMilliseconds < spikeLastsMilliseconds && elapsed > 60_000;
    const plan =
      sent === 3
        ? abandonedPlan(random)
        : { ...realisticPlan(random, spiking ? spike : undefined), errorDetails: { notReadyMilliseconds: 2_000 + random() * 20_000 } };
    onPlan?.(hub, plan);
    return plan;
  };
}

export interface SenderHub {
  name: string;
  keyName: string;
  key: string;
}

export interface SenderOptions {
  simulator: NotificationHubsSimulator;
  hubs: readonly SenderHub[];
  /** The exporter's intake: where every send's Location goes, with this bearer token. */
  intakeUrl: string;
  intakeToken: string;
  random: () => number;
  logger: Logger;
  /** Counts of what happened, for the summary a minute. */
  counts: MinuteCounts;
}

/**
 * What a sender does: send through the hub (signed like any Notification Hubs client), read the
 * Location header of the 201, and forward it to the exporter's intake API. Locations the exporter
 * could not take yet (not started, restarting) wait in a bounded backlog and go with the next batch.
 */
export class SimulatedSender {
  private running = true;
  private readonly tokens: Map<string, SasTokenProvider>;
  private backlog: string[] = [];

  constructor(private readonly options: SenderOptions) {
    this.tokens = new Map(
      options.hubs.map((hub) => [
        hub.name,
        new SasTokenProvider({ resourceUri: `https://${options.simulator.namespaceHost}/${hub.name}`, keyName: hub.keyName, key: hub.key, clock: systemClock }),
      ]),
    );
  }

  get waiting(): number {
    return this.backlog.length;
  }

  stop(): void {
    this.running = false;
  }

  async run(): Promise<void> {
    const { hubs, random, logger, counts } = this.options;
    while (this.running) {
      const hub = hubs[Math.floor(random() * hubs.length)]?.name as string;
      try {
        this.keep(await this.send(hub));
        counts.add('sent');
      } catch (error) {
        logger.warn({ hub, error: String(error) }, 'simulated send failed');
      }
      await this.forward();
      await new Promise((resolve) => setTimeout(resolve, 150 + random() * 350));
    }
  }

  /** Sends one notification; answers its Location. */
  async send(hub: string): Promise<string> {
    const sent = await request(`${this.options.simulator.url}/${hub}/messages/?api-version=2020-06`, {
      method: 'POST',
      headers: {
        authorization: this.tokens.get(hub)?.authorizationHeader() ?? '',
        'x-ms-version': '2020-06',
        'content-type': 'application/json',
        'servicebusnotification-format': 'apple',
      },
      body: '{"aps":{"alert":"simulated"}}',
    });
    await sent.body.dump();
    const location = sent.headers.location;
    if (sent.statusCode !== 201 || typeof location !== 'string') throw new Error(`send answered ${sent.statusCode}`);
    return location;
  }

  private keep(location: string): void {
    this.backlog.push(location);
    const excess = this.backlog.length - backlogLimit;
    if (excess > 0) {
      this.backlog.splice(0, excess);
      this.options.counts.add('droppedWhileExporterAway', excess);
    }
  }

  /** One batch of waiting Locations to the intake. Refused items (4xx) are dropped; the rest wait for the next try. */
  private async forward(): Promise<void> {
    const batch = this.backlog.slice(0, batchLimit);
    if (batch.length === 0) return;
    let status: number;
    try {
      const answer = await request(this.options.intakeUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.intakeToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(batch.map((location) => ({ location }))),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      await answer.body.dump();
      status = answer.statusCode;
    } catch {
      this.options.counts.add('exporterUnreachable');
      return;
    }
    if (status === 202) {
      this.backlog.splice(0, batch.length);
      this.options.counts.add('forwarded', batch.length);
    } else if (status >= 400 && status < 500 && status !== 429) {
      this.backlog.splice(0, batch.length);
      this.options.counts.add(`refusedByExporter_${status}`, batch.length);
    } else {
      this.options.counts.add('exporterUnavailable');
    }
  }
}

/** Everlive feedback grows in the background: new notifications, and devices reporting back. */
export function growEverliveFeedback(everlive: EverliveSimulator, random: () => number, counts?: MinuteCounts): NodeJS.Timeout {
  const recent: string[] = [];
  return setInterval(() => {
    const platforms = ['4', '3', '1'].filter(() => random() < 0.7);
    recent.push(everlive.createNotification({ platforms: platforms.length > 0 ? platforms : ['3'] }));
    counts?.add('everliveNotifications');
    if (recent.length > 20) recent.shift();
    for (const id of recent.slice(-5)) {
      const platform = random() < 0.5 ? '4' : '3';
      everlive.addFeedback(id, platform, { Sent: Math.floor(random() * 20), Failed: random() < 0.2 ? 1 : 0, Deactivated: random() < 0.05 ? 1 : 0 });
    }
  }, 2_000);
}

/** Named counts over one minute, logged as one info line and started afresh (the banner stays readable). */
export class MinuteCounts {
  private counts = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  add(name: string, amount = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + amount);
  }

  start(logger: Logger, message: string, extra: () => Record<string, unknown> = () => ({})): void {
    this.timer = setInterval(() => {
      logger.info({ ...Object.fromEntries(this.counts), ...extra() }, message);
      this.counts = new Map();
    }, 60_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
