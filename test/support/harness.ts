import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import pg from 'pg';
import { request } from 'undici';
import { parseConfig } from '../../src/config/load.js';
import { startExporter, type RunningExporter } from '../../src/exporter.js';
import { createLogger } from '../../src/logging/logger.js';
import { EverliveSimulator, type EverliveSimulatorOptions } from '../../src/simulator/everlive/server.js';
import { NotificationHubsSimulator, type NotificationHubsSimulatorOptions } from '../../src/simulator/notification-hubs/server.js';
import type { RunSummary } from '../../src/sources/everlive/poller.js';
import { seededRandom } from '../../src/simulator/random.js';
import type { AzureMonitorSimulator } from '../../src/simulator/azure-monitor/server.js';
import { ManualClock, SteppableClock } from '../../src/time/clock.js';
import { monitorTarget, startMonitorSimulator } from './azure-monitor.js';
import { parsePrometheusText, type Sample } from './prometheus-text.js';

export const intakeToken = 'integration-test-token-0123456789';
export const hubKey = 'c2ltdWxhdG9yLWtleS1kby1ub3QtbG9n';

export interface HarnessOptions {
  hubs?: string[];
  /** Extra YAML-compatible settings per hub. */
  hubSettings?: Record<string, unknown>;
  apiTokens?: string[];
  statePath?: string;
  /** Run on PostgreSQL (this database) instead of the SQLite file: see test/support/backends.ts. */
  postgresUrl?: string;
  /** The replica's name on PostgreSQL (default: one per harness). */
  replicaId?: string;
  /** Override the connection string's key (to test bad credentials). */
  connectionKey?: string;
  /** Allow fetching PNS error-details blobs from the simulator (plain http on loopback, listed explicitly). */
  allowSimulatorBlobs?: boolean;
  /** Adds an Everlive app on the fake Everlive server; runs are started by hand (runEverlive). */
  everlive?: Record<string, unknown>;
  /** Scenario settings of the fake Everlive server (its clock, Date header, Feedback totals). */
  everliveSimulator?: Omit<EverliveSimulatorOptions, 'appId' | 'masterKey' | 'clock'>;
  /** Extra settings for the config's server section (intakeRateLimit, webConfigFile, ...). */
  server?: Record<string, unknown>;
  /** Adds an azureMonitor target on the fake Entra ID + ARM (settings override the defaults). */
  azureMonitor?: Record<string, unknown>;
  /** How late the fake Azure Monitor shows minutes. */
  azureMonitorVisibility?: { noTotalMilliseconds?: number; partialMilliseconds?: number };
  /** How the simulated hub answers sends (POST /{hub}/messages, …/$batch, /{hub}/schedulednotifications). */
  simulator?: Pick<NotificationHubsSimulatorOptions, 'planForSend' | 'scheduledTelemetry' | 'acceptOwnAddressAudience'>;
  /**
   * Another replica beside this harness: its exporter shares `peer`'s clock and simulators (give
   * both the same postgresUrl and their own replicaId); closing it leaves them to `peer`.
   */
  peer?: Harness;
}

export const everliveMasterKey = 'everlive-master-key-do-not-log';
export const everliveAppId = 'app-123';

/**
 * The real exporter (store, poll loops, HTTP server) against the real simulator on 127.0.0.1, both
 * driven by one manual clock: tests move time forward instead of sleeping.
 */
export class Harness {
  readonly clock: ManualClock;
  /** The exporter's view of the clock: its wall clock can be stepped alone (the upstreams' is not). */
  readonly exporterClock: SteppableClock;
  readonly logLines: Record<string, unknown>[] = [];
  readonly folder: string;
  simulator!: NotificationHubsSimulator;
  everliveSimulator!: EverliveSimulator;
  monitorSimulator: AzureMonitorSimulator | undefined;
  monitorCertificate: string | undefined;
  exporter!: RunningExporter;
  private constructor(private readonly options: HarnessOptions) {
    this.folder = mkdtempSync(join(tmpdir(), 'pne-test-'));
    this.clock = options.peer?.clock ?? new ManualClock(Date.UTC(2026, 2, 1, 12, 0, 0));
    this.exporterClock = new SteppableClock(this.clock);
  }

  static async start(options: HarnessOptions = {}): Promise<Harness> {
    const harness = new Harness(options);
    const peer = options.peer;
    if (peer) {
      harness.simulator = peer.simulator;
      harness.everliveSimulator = peer.everliveSimulator;
      harness.monitorSimulator = peer.monitorSimulator;
      harness.monitorCertificate = peer.monitorCertificate;
      await harness.startExporter();
      return harness;
    }
    harness.simulator = new NotificationHubsSimulator({
      namespace: 'contoso',
      hubs: (options.hubs ?? ['orders']).map((name) => ({ name, keys: { DefaultListenSharedAccessSignature: hubKey } })),
      clock: harness.clock,
      random: seededRandom(7),
      ...options.simulator,
    });
    await harness.simulator.start();
    harness.everliveSimulator = new EverliveSimulator({ ...options.everliveSimulator, appId: everliveAppId, masterKey: everliveMasterKey, clock: harness.clock });
    await harness.everliveSimulator.start();
    if (options.azureMonitor) {
      const started = await startMonitorSimulator(harness.folder, harness.clock, options.azureMonitorVisibility);
      harness.monitorSimulator = started.simulator;
      harness.monitorCertificate = started.certificate.cert;
    }
    await harness.startExporter();
    return harness;
  }

  get statePath(): string {
    return this.options.statePath ?? join(this.folder, 'state.db');
  }

  configYaml(): string {
    const hubs = this.options.hubs ?? ['orders'];
    return JSON.stringify({
      server: { listen: '127.0.0.1:0', apiTokens: this.options.apiTokens ?? [intakeToken], ...this.options.server },
      storage: this.options.postgresUrl
        ? { postgres: { connectionString: this.options.postgresUrl, replicaId: this.options.replicaId ?? 'harness' } }
        : { path: this.statePath },
      azureNotificationHubs: hubs.map((hub) => ({
        name: `${hub}-target`,
        connectionString: `Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=DefaultListenSharedAccessSignature;SharedAccessKey=${this.options.connectionKey ?? hubKey}`,
        hub,
        endpoint: this.simulator.url,
        ...(this.options.allowSimulatorBlobs ? { errorDetails: { allowedHosts: [new URL(this.simulator.url).host] } } : {}),
        ...this.options.hubSettings,
      })),
      everlive: this.options.everlive
        ? [
            {
              name: 'legacy-app',
              endpoint: this.everliveSimulator.url,
              appId: everliveAppId,
              masterKey: everliveMasterKey,
              ...this.options.everlive,
            },
          ]
        : [],
      azureMonitor: this.options.azureMonitor && this.monitorSimulator ? [monitorTarget(this.monitorSimulator, this.options.azureMonitor)] : [],
    });
  }

  /** One Everlive run, as the schedule would start it. */
  async runEverlive(): Promise<RunSummary> {
    const [poller] = this.exporter.everlivePollers;
    if (!poller) throw new Error('no Everlive app configured');
    return poller.runOnce();
  }

  async startExporter(): Promise<void> {
    const logs = this.logLines;
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    this.exporter = await startExporter({
      config: parseConfig(this.configYaml()),
      logger: createLogger({ level: 'debug', destination }),
      clock: this.exporterClock,
      random: seededRandom(11),
      processMetrics: false,
      startEverlive: false,
      azureMonitorTrust: this.monitorCertificate ? { ca: this.monitorCertificate } : undefined,
    });
  }

  /** Moves time forward in steps, letting every poll that falls due finish before the next step. */
  async advance(milliseconds: number, step = 1_000): Promise<void> {
    await this.exporter.whenIdle();
    for (let elapsed = 0; elapsed < milliseconds; elapsed += step) {
      this.clock.advance(Math.min(step, milliseconds - elapsed));
      await this.exporter.whenIdle();
    }
  }

  async post(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
    const response = await request(`${this.exporter.url}/api/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${intakeToken}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.body.text();
    return { status: response.statusCode, json: text ? (JSON.parse(text) as unknown) : undefined };
  }

  async lookup(target: string, notificationId: string): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await request(
      `${this.exporter.url}/api/v1/notifications/${encodeURIComponent(target)}/${encodeURIComponent(notificationId)}`,
      { headers: { authorization: `Bearer ${intakeToken}` } },
    );
    return { status: response.statusCode, json: (await response.body.json()) as Record<string, unknown> };
  }

  async scrapeText(headers: Record<string, string> = {}): Promise<string> {
    const response = await request(`${this.exporter.url}/metrics`, { headers });
    return response.body.text();
  }

  async get(path: string): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await request(`${this.exporter.url}${path}`, { headers: { authorization: `Bearer ${intakeToken}` } });
    return { status: response.statusCode, json: (await response.body.json()) as Record<string, unknown> };
  }

  async scrape(): Promise<Sample[]> {
    return parsePrometheusText(await this.scrapeText());
  }

  /** From the next startExporter() on, runs on this PostgreSQL database (after a migration). */
  usePostgres(postgresUrl: string, replicaId: string): void {
    this.options.postgresUrl = postgresUrl;
    this.options.replicaId = replicaId;
  }

  /** Runs SQL on the state storage, whichever the backend (a statement both dialects read alike). */
  async runSql(statement: string): Promise<void> {
    if (this.options.postgresUrl) {
      const client = new pg.Client({ connectionString: this.options.postgresUrl });
      await client.connect();
      try {
        await client.query(statement);
      } finally {
        await client.end();
      }
      return;
    }
    const database = new Database(this.statePath);
    try {
      database.exec(statement);
    } finally {
      database.close();
    }
  }

  async restart(): Promise<void> {
    await this.exporter.stop();
    await this.startExporter();
  }

  async close(): Promise<void> {
    await this.exporter?.stop();
    if (this.options.peer) {
      rmSync(this.folder, { recursive: true, force: true });
      return;
    }
    await this.simulator?.stop();
    await this.everliveSimulator?.stop();
    await this.monitorSimulator?.stop();
    rmSync(this.folder, { recursive: true, force: true });
  }
}
