import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { locateTool, promtoolAvailable, runPromtool } from '../support/promtool.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const composeDirectory = join(root, 'deploy/compose');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

interface Service {
  build?: { context: string };
  image?: string;
  command?: string[];
  ports?: string[];
  volumes?: string[];
  profiles?: string[];
  environment?: Record<string, string>;
}

interface ScrapeConfig {
  job_name: string;
  static_configs?: { targets: string[] }[];
  dns_sd_configs?: { names: string[]; type?: string; port?: number }[];
  relabel_configs?: { source_labels?: string[]; target_label?: string; replacement?: string }[];
}

const compose = parse(read('deploy/compose/docker-compose.yml')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
/** Bind mounts of a service as [host path (absolute), container path]. */
const bindMounts = (service: Service) =>
  (service.volumes ?? [])
    .filter((volume) => volume.startsWith('.'))
    .map((volume) => {
      const [source, target] = volume.split(':') as [string, string];
      return [resolve(composeDirectory, source), target] as const;
    });

describe('the compose stack (deploy/compose)', () => {
  it('runs the exporter in demo mode from this repository, with Prometheus, Alertmanager and Grafana', () => {
    const always = Object.entries(compose.services).filter(([, service]) => service.profiles === undefined).map(([name]) => name);
    expect(always.sort()).toEqual(['alertmanager', 'exporter', 'grafana', 'prometheus']);
    const exporter = compose.services.exporter as Service;
    expect(resolve(composeDirectory, exporter.build?.context ?? '')).toBe(root);
    expect(exporter.command).toEqual(['--demo', '--listen', '0.0.0.0:10130', '--data-dir', '/data/demo']);
    expect(exporter.ports).toContain('10130:10130');
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [source] of bindMounts(service)) expect(existsSync(source), `${name} mounts ${source}`).toBe(true);
      for (const volume of service.volumes ?? []) {
        if (!volume.startsWith('.')) expect(Object.keys(compose.volumes)).toContain(volume.split(':')[0]);
      }
    }
  });

  it('has an optional "ha" profile: PostgreSQL and two exporter replicas on it, each under its own replica ID', () => {
    const ha = Object.entries(compose.services).filter(([, service]) => service.profiles?.includes('ha')).map(([name]) => name);
    expect(ha.sort()).toEqual(['exporter-a', 'exporter-b', 'postgres']);
    const replicas = ['exporter-a', 'exporter-b'].map((name) => compose.services[name] as Service);
    expect(replicas.map((service) => service.environment?.REPLICA_ID)).toEqual(['exporter-a', 'exporter-b']);
    const configMount = bindMounts(replicas[0] as Service).find(([, target]) => target === '/etc/push-notification-exporter/config.yaml');
    const config = parseConfig(readFileSync(configMount?.[0] as string, 'utf8'), {
      environment: {
        ...replicas[0]?.environment,
        PG_URL: 'postgres://exporter:pw@postgres:5432/push_notification_exporter',
        NH_CONNECTION_STRING: 'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=k',
        NH_HUB: 'my-hub',
        INTAKE_TOKEN: 'token',
      },
    });
    expect(config.storage.postgres).toMatchObject({ connectionString: 'postgres://exporter:pw@postgres:5432/push_notification_exporter', replicaId: 'exporter-a' });
  });

  it('gives Prometheus every rule file it names, and a scrape job for the exporter', () => {
    const prometheus = parse(read('deploy/compose/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
    };
    const rulesMount = bindMounts(compose.services.prometheus as Service).find(([, target]) => target.startsWith('/etc/prometheus/rules'));
    expect(rulesMount?.[0]).toBe(join(root, 'alerts'));
    for (const file of prometheus.rule_files) expect(existsSync(join(root, 'alerts', file.replace(/^rules\//, ''))), file).toBe(true);
    expect(readdirSync(join(root, 'alerts')).length).toBe(prometheus.rule_files.length);
    expect(prometheus.scrape_configs.map((config) => config.job_name)).toEqual(['push-notification-exporter']);
    expect(prometheus.scrape_configs[0]?.static_configs[0]?.targets).toEqual(['exporter:10130']);
    expect(prometheus.alerting.alertmanagers[0]?.static_configs[0]?.targets).toEqual(['alertmanager:9093']);
  });

  it('has Prometheus scrape both replicas of the "ha" profile in the exporter\'s job, as instances of their own, and nothing of theirs without it', () => {
    const prometheus = parse(read('deploy/compose/prometheus.yml')) as { scrape_configs: ScrapeConfig[] };
    const job = prometheus.scrape_configs.find((config) => config.job_name === 'push-notification-exporter') as ScrapeConfig;
    const replicas = Object.entries(compose.services)
      .filter(([, service]) => service.profiles?.includes('ha') && service.environment?.REPLICA_ID !== undefined)
      .map(([name]) => name);
    expect(replicas.sort()).toEqual(['exporter-a', 'exporter-b']);
    // In the rules' job (one job for every replica: the rules add them up across instances), found
    // by compose's DNS, so that without the profile the names do not resolve and no target is down.
    const discovery = job.dns_sd_configs ?? [];
    expect(discovery).toHaveLength(1);
    expect(discovery[0]).toMatchObject({ type: 'A' });
    expect([...(discovery[0]?.names ?? [])].sort()).toEqual(replicas);
    // The port each replica listens on inside its container (exporter-ha.yml), not the published one.
    const listen = (parse(read('deploy/compose/exporter-ha.yml')) as { server: { listen: string } }).server.listen;
    expect(String(discovery[0]?.port)).toBe(listen.split(':').pop());
    // Stable instance labels: the service name, not the container address.
    const relabel = job.relabel_configs?.find((rule) => rule.target_label === 'instance');
    expect(relabel).toMatchObject({ source_labels: ['__meta_dns_name'], replacement: `$1:${discovery[0]?.port}` });
    for (const name of replicas) expect(compose.services[name]?.environment?.REPLICA_ID).toBe(name);
  });

  it('provisions Grafana with the dashboards that exist and a data source pointing at the Prometheus service', () => {
    const grafanaMounts = bindMounts(compose.services.grafana as Service);
    const provider = parse(read('grafana/provisioning/dashboards/push-notification-exporter.yaml')) as { providers: { options: { path: string } }[] };
    const dashboardsMount = grafanaMounts.find(([, target]) => target === provider.providers[0]?.options.path);
    expect(dashboardsMount?.[0]).toBe(join(root, 'grafana/dashboards'));
    expect(readdirSync(join(root, 'grafana/dashboards')).filter((file) => file.endsWith('.json')).length).toBeGreaterThanOrEqual(2);
    const datasources = parse(read('grafana/provisioning/datasources/prometheus.yaml')) as { datasources: { url: string }[] };
    expect(datasources.datasources[0]?.url).toBe('http://prometheus:9090');
    expect(compose.services.prometheus?.ports).toContain('9090:9090');
  });

  it("gives the Grafana data source the exporter job's scrape interval, and exemplars a link to the exporter's lookup", () => {
    const prometheus = parse(read('deploy/compose/prometheus.yml')) as {
      global: { scrape_interval: string };
      scrape_configs: { job_name: string; scrape_interval?: string }[];
    };
    const job = prometheus.scrape_configs.find((config) => config.job_name === 'push-notification-exporter');
    const scrapeInterval = job?.scrape_interval ?? prometheus.global.scrape_interval;
    const [datasource] = (
      parse(read('grafana/provisioning/datasources/prometheus.yaml')) as {
        datasources: { jsonData: { timeInterval: string; exemplarTraceIdDestinations: { name: string; url: string }[] } }[];
      }
    ).datasources;
    // $__rate_interval is four times timeInterval: with a shorter scrape it would span fewer scrapes.
    expect(datasource?.jsonData.timeInterval).toBe(scrapeInterval);
    expect(compose.services.prometheus?.command).toContain('--enable-feature=exemplar-storage');
    // The browser follows the link: the exporter's lookup route on the port compose publishes.
    expect(datasource?.jsonData.exemplarTraceIdDestinations).toEqual([
      {
        name: 'notification_id',
        urlDisplayLabel: 'Notification story (lookup API)',
        url: 'http://localhost:10130/api/v1/notifications/$${__data.fields.target}/$${__value.raw}',
      },
    ]);
    expect(compose.services.exporter?.ports).toContain('10130:10130');
  });

  it.skipIf(!promtoolAvailable())('passes promtool check config with the rules laid out as in the container', () => {
    const folder = mkdtempSync(join(tmpdir(), 'pne-compose-'));
    try {
      cpSync(join(composeDirectory, 'prometheus.yml'), join(folder, 'prometheus.yml'));
      cpSync(join(root, 'alerts'), join(folder, 'rules'), { recursive: true });
      const result = runPromtool(['check', 'config', join(folder, 'prometheus.yml')]);
      expect(result.output).toContain('SUCCESS: 2 rule files found');
      expect(result.status).toBe(0);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  const amtool = locateTool(['amtool'], 'prometheus-alertmanager');
  it.skipIf(!amtool)('passes amtool check-config', () => {
    const result = spawnSync(amtool as string, ['check-config', join(composeDirectory, 'alertmanager.yml')], { encoding: 'utf8' });
    expect(`${result.stdout}${result.stderr}`).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });
});
