import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { parse, stringify } from 'yaml';
import { AlertWebhook } from './alert-webhook.js';
import { waitFor } from './wait.js';

/**
 * Real Prometheus and Alertmanager (Debian's packages) as child processes on 127.0.0.1, for tests
 * that prove rules and dashboards against the real thing. Each process is stopped by its own pid.
 */

/** A port that was free a moment ago: the tools take a port number, not an already-open socket. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

class ManagedProcess {
  output = '';
  private readonly exited: Promise<void>;
  // If the test worker dies without afterAll, the child must not outlive it.
  private readonly killOnExit = () => this.child.kill('SIGKILL');

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    const append = (chunk: Buffer) => {
      // Keep the tail only: enough to explain a failure, bounded for long runs.
      this.output = `${this.output}${chunk.toString('utf8')}`.slice(-20_000);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    process.once('exit', this.killOnExit);
  }

  static start(name: string, binary: string, args: string[]): ManagedProcess {
    return new ManagedProcess(name, spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async waitUntilReady(url: string): Promise<void> {
    await waitFor(
      async () => {
        if (!this.running) throw new Error(`${this.name} exited: ${this.output}`);
        const response = await request(url);
        await response.body.dump();
        return response.statusCode === 200 ? true : undefined;
      },
      { description: `${this.name} to be ready at ${url}`, timeoutMilliseconds: 30_000 },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${this.name} output:\n${this.output}`);
    });
  }

  async stop(): Promise<void> {
    process.removeListener('exit', this.killOnExit);
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const stopped = await Promise.race([this.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000))]);
    if (!stopped) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

export interface PrometheusSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusQueryAnswer {
  status: 'success' | 'error';
  error?: string;
  errorType?: string;
  data?: { resultType: string; result: PrometheusSample[] };
}

export interface PrometheusRule {
  name: string;
  type: 'recording' | 'alerting';
  health: string;
  lastError?: string;
  state?: string;
}

export interface PrometheusRuleGroup {
  name: string;
  file: string;
  rules: PrometheusRule[];
}

export interface PrometheusOptions {
  binary: string;
  folder: string;
  /** prometheus.yml; rule file paths in it are resolved by Prometheus relative to the folder. */
  configYaml: string;
  /** --enable-feature values, e.g. exemplar-storage. */
  features?: string[];
}

export interface PrometheusExemplars {
  seriesLabels: Record<string, string>;
  exemplars: { labels: Record<string, string>; value: string; timestamp: number }[];
}

export class PrometheusServer {
  private constructor(
    readonly url: string,
    private readonly process: ManagedProcess,
  ) {}

  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    const configPath = join(options.folder, 'prometheus.yml');
    writeFileSync(configPath, options.configYaml);
    const port = await freePort();
    const child = ManagedProcess.start('prometheus', options.binary, [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(options.folder, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      ...(options.features ?? []).map((feature) => `--enable-feature=${feature}`),
    ]);
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child);
    await child.waitUntilReady(`${server.url}/-/ready`);
    return server;
  }

  get output(): string {
    return this.process.output;
  }

  /** An instant query through the HTTP API, as Grafana sends it; parse errors come back as status "error". */
  async query(expression: string): Promise<PrometheusQueryAnswer> {
    const response = await request(`${this.url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expression }).toString(),
    });
    return (await response.body.json()) as PrometheusQueryAnswer;
  }

  /** The sum of the values of an instant query, or undefined when it has no result. */
  async scalar(expression: string): Promise<number | undefined> {
    const answer = await this.query(expression);
    if (answer.status !== 'success') throw new Error(`query failed: ${expression}: ${answer.error ?? ''}`);
    const result = answer.data?.result ?? [];
    return result.length === 0 ? undefined : result.reduce((total, sample) => total + Number(sample.value[1]), 0);
  }

  /** What Grafana's label_values(selector, label) asks for. */
  async labelValues(label: string, selector: string): Promise<string[]> {
    const query = new URLSearchParams({ 'match[]': selector }).toString();
    const response = await request(`${this.url}/api/v1/label/${encodeURIComponent(label)}/values?${query}`);
    const answer = (await response.body.json()) as { status: string; data?: string[]; error?: string };
    if (answer.status !== 'success') throw new Error(`label values of ${label} for ${selector} failed: ${answer.error ?? ''}`);
    return answer.data ?? [];
  }

  /** What Grafana asks for a panel query with exemplars on (needs --enable-feature=exemplar-storage). */
  async exemplars(expression: string, startSeconds: number, endSeconds: number): Promise<PrometheusExemplars[]> {
    const query = new URLSearchParams({ query: expression, start: String(startSeconds), end: String(endSeconds) }).toString();
    const response = await request(`${this.url}/api/v1/query_exemplars?${query}`);
    const answer = (await response.body.json()) as { status: string; data?: PrometheusExemplars[]; error?: string };
    if (answer.status !== 'success') throw new Error(`exemplars of ${expression} failed: ${answer.error ?? ''}`);
    return answer.data ?? [];
  }

  async ruleGroups(): Promise<PrometheusRuleGroup[]> {
    const response = await request(`${this.url}/api/v1/rules`);
    const answer = (await response.body.json()) as { data: { groups: PrometheusRuleGroup[] } };
    return answer.data.groups;
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}

export interface AlertmanagerOptions {
  binary: string;
  folder: string;
  configYaml: string;
}

export class AlertmanagerServer {
  private constructor(
    readonly url: string,
    readonly port: number,
    private readonly process: ManagedProcess,
  ) {}

  static async start(options: AlertmanagerOptions): Promise<AlertmanagerServer> {
    const configPath = join(options.folder, 'alertmanager.yml');
    writeFileSync(configPath, options.configYaml);
    const port = await freePort();
    const child = ManagedProcess.start('alertmanager', options.binary, [
      `--config.file=${configPath}`,
      `--storage.path=${join(options.folder, 'alertmanager')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // An empty cluster address turns gossip off: nothing listens beyond 127.0.0.1.
      '--cluster.listen-address=',
      '--log.level=warn',
    ]);
    const server = new AlertmanagerServer(`http://127.0.0.1:${port}`, port, child);
    await child.waitUntilReady(`${server.url}/-/ready`);
    return server;
  }

  get output(): string {
    return this.process.output;
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}

/**
 * An alerting rules file with every `for:` set to 0s: the e2e tests check what the expressions
 * answer and that Alertmanager delivers, not the hold times (promtool's unit tests cover those).
 */
export function alertingRulesWithoutHoldTimes(rulesFile: string): string {
  const document = parse(readFileSync(rulesFile, 'utf8')) as { groups: { rules: { for?: string }[] }[] };
  for (const group of document.groups) {
    for (const rule of group.rules) if (rule.for !== undefined) rule.for = '0s';
  }
  return stringify(document);
}

/** Alertmanager routing every alert, grouped per alert and target, at once to one webhook. */
export function alertmanagerConfigFor(webhookUrl: string): string {
  return stringify({
    route: { receiver: 'test-webhook', group_by: ['alertname', 'target', 'platform'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
    receivers: [{ name: 'test-webhook', webhook_configs: [{ url: webhookUrl, send_resolved: false }] }],
  });
}

export interface AlertingStackOptions {
  prometheusBinary: string;
  alertmanagerBinary: string;
  folder: string;
  recordingRulesFile: string;
  /** Loaded with every `for:` at 0s (alertingRulesWithoutHoldTimes). */
  alertingRulesFile: string;
  /** host:port of each exporter, scraped every second as job push-notification-exporter. */
  scrapeTargets: string[];
  features?: string[];
}

/**
 * What both e2e tests run: a webhook receiving what Alertmanager routes, Alertmanager, and
 * Prometheus evaluating the bundled rules every second against the exporters named.
 */
export class AlertingStack {
  private constructor(
    readonly webhook: AlertWebhook,
    readonly alertmanager: AlertmanagerServer,
    readonly prometheus: PrometheusServer,
  ) {}

  static async start(options: AlertingStackOptions): Promise<AlertingStack> {
    const webhook = new AlertWebhook();
    await webhook.start();
    let alertmanager: AlertmanagerServer | undefined;
    try {
      alertmanager = await AlertmanagerServer.start({ binary: options.alertmanagerBinary, folder: options.folder, configYaml: alertmanagerConfigFor(webhook.url) });
      const alertingRules = join(options.folder, 'alerting-rules-without-hold-times.yml');
      writeFileSync(alertingRules, alertingRulesWithoutHoldTimes(options.alertingRulesFile));
      const prometheus = await PrometheusServer.start({
        binary: options.prometheusBinary,
        folder: options.folder,
        ...(options.features ? { features: options.features } : {}),
        configYaml: stringify({
          global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
          rule_files: [options.recordingRulesFile, alertingRules],
          alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${alertmanager.port}`] }] }] },
          scrape_configs: [{ job_name: 'push-notification-exporter', static_configs: [{ targets: options.scrapeTargets }] }],
        }),
      });
      return new AlertingStack(webhook, alertmanager, prometheus);
    } catch (error) {
      await alertmanager?.stop();
      await webhook.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.prometheus.stop();
    await this.alertmanager.stop();
    await this.webhook.stop();
  }
}
