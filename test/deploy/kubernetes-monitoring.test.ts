import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { repositoryRoot } from '../support/dashboards.js';
import { promtoolAvailable, runPromtool } from '../support/promtool.js';

/**
 * deploy/kubernetes/ for prometheus-operator users: a ServiceMonitor for the manifest's Service and
 * a PrometheusRule with the repository's rules (rendered from mixin/, see test/mixin).
 */

const read = (path: string) => readFileSync(join(repositoryRoot, path), 'utf8');
const documents = (path: string) => parseAllDocuments(read(path)).map((document) => document.toJS() as Record<string, unknown>);

interface Service {
  kind: 'Service';
  metadata: { name: string; labels: Record<string, string> };
  spec: { selector: Record<string, string>; ports: { name: string; port: number }[] };
}
interface ServiceMonitor {
  apiVersion: string;
  kind: 'ServiceMonitor';
  metadata: { name: string; labels: Record<string, string> };
  spec: { selector: { matchLabels: Record<string, string> }; jobLabel?: string; endpoints: { port: string; path: string; interval: string }[] };
}
interface RuleGroups {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}

const service = documents('deploy/kubernetes/push-notification-exporter.yaml').find((document) => document.kind === 'Service') as unknown as Service;
const [serviceMonitor] = documents('deploy/kubernetes/push-notification-exporter-servicemonitor.yaml') as unknown as ServiceMonitor[];
const [prometheusRule] = documents('deploy/kubernetes/push-notification-exporter-prometheusrule.yaml') as unknown as {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels: Record<string, string> };
  spec: RuleGroups;
}[];
const ruleFile = (name: string) => parse(read(`alerts/${name}`)) as RuleGroups;

describe('Kubernetes monitoring (prometheus-operator)', () => {
  it("has a ServiceMonitor that selects the manifest's Service and scrapes its http port at /metrics", () => {
    expect(serviceMonitor).toMatchObject({ apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor' });
    for (const [label, value] of Object.entries(serviceMonitor?.spec.selector.matchLabels ?? {})) expect(service.metadata.labels[label], label).toBe(value);
    expect(Object.keys(serviceMonitor?.spec.selector.matchLabels ?? {}).length).toBeGreaterThan(0);
    const [endpoint] = serviceMonitor?.spec.endpoints ?? [];
    expect(service.spec.ports.map((port) => port.name)).toContain(endpoint?.port);
    expect(endpoint?.path).toBe('/metrics');
  });

  it('gives the scrape the job the rules select: the operator names it after the Service', () => {
    // Without spec.jobLabel the job label is the Service's name.
    expect(serviceMonitor?.spec.jobLabel).toBeUndefined();
    const selectors = [...read('alerts/push-notification-recording-rules.yml').matchAll(/job="([^"]+)"/g)].map((match) => match[1]);
    expect(selectors.length).toBeGreaterThan(5);
    expect(new Set(selectors)).toEqual(new Set([service.metadata.name]));
  });

  it('has a PrometheusRule holding exactly the groups of alerts/*.yml', () => {
    expect(prometheusRule).toMatchObject({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'push-notification-exporter', labels: { 'app.kubernetes.io/name': 'push-notification-exporter' } },
    });
    expect(prometheusRule?.spec.groups).toEqual([
      ...ruleFile('push-notification-recording-rules.yml').groups,
      ...ruleFile('push-notification-alerting-rules.yml').groups,
    ]);
    expect(prometheusRule?.spec.groups.flatMap((group) => group.rules).filter((rule) => rule.alert)).toHaveLength(6);
  });

  it.skipIf(!promtoolAvailable())("passes promtool check rules on the PrometheusRule's groups", () => {
    const folder = mkdtempSync(join(tmpdir(), 'pne-prometheusrule-'));
    try {
      const file = join(folder, 'rules.yml');
      writeFileSync(file, stringify(prometheusRule?.spec));
      const result = runPromtool(['check', 'rules', '--lint=all', '--lint-fatal', file]);
      expect(result.output).toContain('SUCCESS: 15 rules found');
      expect(result.status, result.output).toBe(0);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
