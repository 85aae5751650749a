import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { renderMixin, repositoryRoot, staleFiles } from '../../scripts/render-mixin.js';
import { locateTool, promtoolAvailable, runPromtool } from '../support/promtool.js';

/**
 * mixin/ is the source of alerts/*.yml, grafana/dashboards/*.json and the PrometheusRule in
 * deploy/kubernetes/: the committed files must be exactly what it renders (npm run mixin), and its
 * _config must reach every rule and panel. Needs Debian's jsonnet (.ci/run installs it); locally the
 * tests are skipped with a message without it, under CI=true they fail.
 */

const jsonnet = locateTool(['jsonnet'], 'jsonnet');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
type RuleFile = { groups: { name: string; rules: Rule[] }[] };
type Dashboard = {
  templating: { list: { name: string; query?: { query: string } }[] };
  panels: { title: string; targets?: { expr: string }[]; fieldConfig?: { defaults?: { thresholds?: { steps: { value: number | null }[] } } } }[];
};

/** Every `name{...}` selector of a push_notification_ metric in a PromQL expression. */
function exporterSelectors(expr: string): string[] {
  return [...expr.matchAll(/(?<![:\w])push_notification_[a-z_]+(?![:\w])(\{[^}]*\})?/g)].map((match) => match[0]);
}

describe.skipIf(!jsonnet)('the monitoring mixin (mixin/)', () => {
  const folders: string[] = [];
  afterAll(() => {
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });

  function renderWith(config: Record<string, unknown>): Map<string, string> {
    const folder = mkdtempSync(join(tmpdir(), 'pne-mixin-'));
    folders.push(folder);
    const file = join(folder, 'config.libsonnet');
    writeFileSync(file, JSON.stringify(config));
    return renderMixin({ configFile: file });
  }

  it('renders exactly the committed alerts, dashboards and PrometheusRule (run npm run mixin after changing mixin/)', () => {
    const rendered = renderMixin();
    expect([...rendered.keys()].sort()).toEqual([
      'alerts/push-notification-alerting-rules.yml',
      'alerts/push-notification-recording-rules.yml',
      'deploy/kubernetes/push-notification-exporter-prometheusrule.yaml',
      'grafana/dashboards/push-notification-exporter-health.json',
      'grafana/dashboards/push-notification-overview.json',
    ]);
    expect(staleFiles(rendered)).toEqual([]);
    // Nothing hand-written beside them: every rule file and dashboard comes from the mixin.
    const shipped = [
      ...readdirSync(join(repositoryRoot, 'alerts')).map((file) => `alerts/${file}`),
      ...readdirSync(join(repositoryRoot, 'grafana', 'dashboards')).map((file) => `grafana/dashboards/${file}`),
    ];
    for (const path of shipped) expect(rendered.has(path), path).toBe(true);
  });

  it('notices a committed file that differs from the render', () => {
    const rendered = renderMixin();
    const folder = mkdtempSync(join(tmpdir(), 'pne-mixin-'));
    folders.push(folder);
    expect(staleFiles(rendered, folder)).toHaveLength(rendered.size);
  });

  it('makes the PrometheusRule from the same groups as the rule files', () => {
    const rendered = renderMixin();
    const [manifest] = parseAllDocuments(rendered.get('deploy/kubernetes/push-notification-exporter-prometheusrule.yaml') as string).map((document) => document.toJS() as { kind: string; spec: RuleFile });
    const recording = parse(rendered.get('alerts/push-notification-recording-rules.yml') as string) as RuleFile;
    const alerting = parse(rendered.get('alerts/push-notification-alerting-rules.yml') as string) as RuleFile;
    expect(manifest?.kind).toBe('PrometheusRule');
    expect(manifest?.spec.groups).toEqual([...recording.groups, ...alerting.groups]);
  });

  it('carries _config overrides into every rule and panel: selector, threshold, for, severity, runbook pattern', () => {
    const rendered = renderWith({
      selector: 'job="pne", namespace="push"',
      failureRatioThreshold: 0.05,
      failureRatioFor: '30m',
      failureRatioSeverity: 'critical',
      abandonedWindow: '1h',
      runbookURLPattern: 'https://wiki.example.com/pne/runbooks#%s',
    });
    const rules = ['alerts/push-notification-recording-rules.yml', 'alerts/push-notification-alerting-rules.yml'].flatMap((path) =>
      (parse(rendered.get(path) as string) as RuleFile).groups.flatMap((group) => group.rules),
    );
    const selectors = rules.flatMap((rule) => exporterSelectors(rule.expr));
    expect(selectors.length).toBeGreaterThan(15);
    for (const selector of selectors) expect(selector).toContain('{job="pne", namespace="push"');
    const ratioHigh = rules.find((rule) => rule.alert === 'PushNotificationFailureRatioHigh') as Rule;
    expect(ratioHigh.expr).toMatch(/ratio_rate1h > 0\.05\n/);
    expect(ratioHigh.for).toBe('30m');
    expect(ratioHigh.labels?.severity).toBe('critical');
    expect(ratioHigh.annotations?.summary).toContain('above 5%');
    expect(ratioHigh.annotations?.description).toContain('(threshold 5%, at least 100 attempts)');
    const abandoned = rules.find((rule) => rule.alert === 'PushNotificationsAbandoned') as Rule;
    expect(abandoned.expr).toContain('[1h]');
    expect(abandoned.annotations?.description).toContain('in the last 1 hour');
    for (const rule of rules.filter((candidate) => candidate.alert)) {
      expect(rule.annotations?.runbook_url).toBe(`https://wiki.example.com/pne/runbooks#${(rule.alert as string).toLowerCase()}`);
    }
    // Templated queries inside annotations select the same job.
    const sourceDown = rules.find((rule) => rule.alert === 'PushNotificationSourceDown') as Rule;
    expect(sourceDown.annotations?.description).toContain('push_notification_source_last_success_timestamp_seconds{job="pne", namespace="push", source=%q, target=%q}');

    const overview = JSON.parse(rendered.get('grafana/dashboards/push-notification-overview.json') as string) as Dashboard;
    expect(overview.templating.list.find((variable) => variable.name === 'job')?.query?.query).toBe(
      'label_values(push_notification_exporter_build_info{job="pne", namespace="push"}, job)',
    );
    const ratioPanel = overview.panels.find((panel) => panel.title === 'Failure ratio by target and platform');
    expect(ratioPanel?.fieldConfig?.defaults?.thresholds?.steps.map((step) => step.value)).toEqual([null, 0.05]);
  });

  it('renders rules without any job matcher when the selector is empty', () => {
    const rendered = renderWith({ selector: '' });
    const text = ['alerts/push-notification-recording-rules.yml', 'alerts/push-notification-alerting-rules.yml'].map((path) => rendered.get(path)).join('\n');
    expect(text).not.toContain('job=');
    expect(text).not.toMatch(/\{\}|\{, /);
    expect(text).toContain('push_notification_outcomes_total{outcome!~"Skipped|NoTargets"}');
  });

  it.skipIf(!promtoolAvailable())('renders rules promtool accepts, with every lint fatal, for the defaults and for overrides', () => {
    for (const [name, config] of Object.entries({ defaults: {}, empty: { selector: '' }, regex: { selector: 'job=~"pne|push-.*"', staleAfterSeconds: 1800 } })) {
      const folder = mkdtempSync(join(tmpdir(), 'pne-mixin-rules-'));
      folders.push(folder);
      const rendered = renderWith(config);
      const files = ['alerts/push-notification-recording-rules.yml', 'alerts/push-notification-alerting-rules.yml'].map((path, index) => {
        const file = join(folder, `${index}.yml`);
        writeFileSync(file, rendered.get(path) as string);
        return file;
      });
      const result = runPromtool(['check', 'rules', '--lint=all', '--lint-fatal', ...files]);
      expect(result.status, `${name}: ${result.output}`).toBe(0);
    }
  });
});
