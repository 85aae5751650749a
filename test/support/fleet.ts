import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import type { NotificationHubsSimulator } from '../../src/simulator/notification-hubs/server.js';
import { ExporterProcess, httpGet } from './exporter-process.js';
import { parsePrometheusText, sumOf, type Sample } from './prometheus-text.js';

export const fleetToken = 'fleet-test-token-abcdefghijklmnop';
export const fleetTarget = 'orders-target';

/** One exporter replica as a real process on one PostgreSQL database; its URL changes at each start. */
export class Replica {
  process: ExporterProcess | undefined;
  url: string | undefined;
  private readonly configPath: string;

  constructor(
    readonly replicaId: string,
    folder: string,
    databaseUrl: string,
    simulator: NotificationHubsSimulator,
    /** More entries of azureNotificationHubs beside orders-target (the same on every replica). */
    moreTargets: readonly Record<string, unknown>[] = [],
  ) {
    this.configPath = join(folder, `${replicaId}.yaml`);
    writeFileSync(
      this.configPath,
      JSON.stringify({
        server: { listen: '127.0.0.1:0', apiTokens: [fleetToken], intakeRateLimit: { requestsPerSecond: 0 } },
        storage: { postgres: { connectionString: databaseUrl, replicaId } },
        azureNotificationHubs: [{ name: fleetTarget, connectionString: simulator.connectionString('orders'), hub: 'orders', endpoint: simulator.url, concurrency: 8 }, ...moreTargets],
      }),
    );
  }

  async start(): Promise<void> {
    this.process = ExporterProcess.start(['--config', this.configPath]);
    this.url = await this.process.waitForStart(30_000);
  }

  async kill(): Promise<void> {
    this.url = undefined;
    this.process?.kill('SIGKILL');
    await this.process?.exit();
  }

  /** SIGTERM: finishes its writes and hands its work back; resolves with the exit status. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    this.url = undefined;
    if (!this.process || this.process.child.exitCode !== null) return undefined;
    this.process.kill('SIGTERM');
    return this.process.exit();
  }

  async scrape(): Promise<Sample[]> {
    if (!this.url) throw new Error(`${this.replicaId} is not running`);
    return parsePrometheusText((await httpGet(`${this.url}/metrics`)).text);
  }

  logLines(message: string): number {
    return (this.process?.stderr ?? '').split('\n').filter((line) => line.includes(`"msg":"${message}"`)).length;
  }
}

/** Posts IDs to one replica; the status, or undefined when the replica cannot be reached at all. */
export async function postIds(url: string, ids: readonly string[]): Promise<{ status: number; json: Record<string, number> } | undefined> {
  try {
    const response = await request(`${url}/api/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fleetToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(ids.map((notificationId) => ({ target: fleetTarget, notificationId }))),
      headersTimeout: 20_000,
      bodyTimeout: 20_000,
    });
    const text = await response.body.text();
    return { status: response.statusCode, json: text ? (JSON.parse(text) as Record<string, number>) : {} };
  } catch {
    return undefined;
  }
}

/**
 * A sender behind a load balancer: each batch goes to the next replica in turn, and to the other
 * one when that fails (not running, 503). Retries until acknowledged (202) or the deadline;
 * records when each batch was acknowledged, for the longest gap.
 */
export class FleetSender {
  readonly acknowledged = new Set<string>();
  readonly acknowledgedAt: number[] = [];
  refusals = 0;
  private turn = 0;

  constructor(private readonly replicas: readonly Replica[]) {}

  async send(ids: readonly string[], deadlineMilliseconds = 60_000): Promise<void> {
    const deadline = Date.now() + deadlineMilliseconds;
    while (Date.now() < deadline) {
      const replica = this.replicas[this.turn % this.replicas.length] as Replica;
      this.turn += 1;
      const answer = replica.url ? await postIds(replica.url, ids) : undefined;
      if (answer?.status === 202) {
        for (const id of ids) this.acknowledged.add(id);
        this.acknowledgedAt.push(Date.now());
        return;
      }
      if (answer && answer.status !== 503) throw new Error(`intake answered ${answer.status}: ${JSON.stringify(answer.json)}`);
      this.refusals += 1;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('a batch was not acknowledged in time');
  }

  /** The longest time between two acknowledged batches (the intake gap a sender sees). */
  longestGapMilliseconds(): number {
    let longest = 0;
    for (let index = 1; index < this.acknowledgedAt.length; index += 1) {
      longest = Math.max(longest, (this.acknowledgedAt[index] as number) - (this.acknowledgedAt[index - 1] as number));
    }
    return longest;
  }
}

/** Σ over replicas of one family (what `sum()` over instances gives in Prometheus). */
export function fleetSum(scrapes: readonly Sample[][], family: string, labels: Record<string, string> = {}): number {
  return scrapes.reduce((total, samples) => total + sumOf(samples, family, labels), 0);
}
