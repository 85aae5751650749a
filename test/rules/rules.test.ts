import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { startExporter } from '../../src/exporter.js';
import { silentLogger } from '../../src/logging/logger.js';
import { panelQueries, repositoryRoot } from '../support/dashboards.js';
import { promtoolAvailable, runPromtool } from '../support/promtool.js';

/**
 * The Prometheus rules in alerts/: promtool checks and unit tests (test/rules/*.test.yml), and the
 * contracts promtool cannot see: the six alert names of the design, their labels and annotations,
 * runbooks in the README, the level:metric:operations naming and one outcome classification shared
 * by rules and dashboards. test/e2e/prometheus-alertmanager.test.ts loads the same files into a real
 * Prometheus.
 */

const alertsFolder = join(repositoryRoot, 'alerts');
const testsFolder = join(repositoryRoot, 'test', 'rules');
const ruleFiles = readdirSync(alertsFolder)
  .filter((file) => file.endsWith('.yml'))
  .map((file) => join(alertsFolder, file));
const ruleTestFiles = readdirSync(testsFolder)
  .filter((file) => file.endsWith('.test.yml'))
  .map((file) => join(testsFolder, file));

const designAlertNames = [
  'PushNotificationFailureRatioHigh',
  'PushNotificationFailureSpike',
  'PushNotificationsAbandoned',
  'PushNotificationInvalidCredentials',
  'PushNotificationSourceDown',
  'PushNotificationTelemetryStale',
];
// The mixin's default runbookURLPattern: the README's runbooks as the exporter serves them (/readme).
const runbookBase = 'http://localhost:10130/readme#';

/** The failure classification (README "Failure classification"): the only outcome matchers allowed. */
const classificationMatchers = new Set([
  'outcome=~"Success|Sent"', // successes
  'outcome!~"Skipped|NoTargets"', // delivery attempts: successes and failures
  'outcome!~"Success|Sent|Skipped|NoTargets"', // failures
  'outcome="InvalidCredentials"', // the one failure with an alert of its own
]);

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleTestFile {
  rule_files: string[];
  tests: {
    name: string;
    alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[];
    promql_expr_test?: { expr: string }[];
  }[];
}

function readYaml<T>(path: string): T {
  return parse(readFileSync(path, 'utf8')) as T;
}

const rules: Rule[] = ruleFiles.flatMap((file) => readYaml<{ groups: { rules: Rule[] }[] }>(file).groups.flatMap((group) => group.rules));
const alertRules = rules.filter((rule): rule is Rule & { alert: string } => rule.alert !== undefined);
const recordingRules = rules.filter((rule): rule is Rule & { record: string } => rule.record !== undefined);
const ruleTests = ruleTestFiles.map((file) => readYaml<RuleTestFile>(file));

describe.skipIf(!promtoolAvailable())('promtool', () => {
  it('check rules passes for every rule file, with every lint check fatal', () => {
    const result = runPromtool(['check', 'rules', '--lint=all', '--lint-fatal', ...ruleFiles]);
    expect(result.output).not.toContain('FAILED');
    expect(result.status, result.output).toBe(0);
  });

  it('test rules passes for every unit-test file in test/rules', () => {
    const result = runPromtool(['test', 'rules', ...ruleTestFiles]);
    expect(result.status, result.output).toBe(0);
    expect(result.output.match(/SUCCESS/g)?.length).toBe(ruleTestFiles.length);
  });
});

describe('alerting rules', () => {
  it('are exactly the six alerts of the design', () => {
    expect(alertRules.map((rule) => rule.alert).sort()).toEqual([...designAlertNames].sort());
  });

  it('each have a severity, a summary, a description naming the target and platform, and a runbook in the README', () => {
    const readme = [join(repositoryRoot, 'README.md'), join(repositoryRoot, 'docs', 'issue-4-readme-sections.md')]
      .filter((path) => existsSync(path))
      .map((path) => readFileSync(path, 'utf8'))
      .join('\n');
    for (const rule of alertRules) {
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toContain('{{ $labels.target }}');
      const description = rule.annotations?.description ?? '';
      expect(description, rule.alert).toContain('{{ $labels.target }}');
      // Alerts about one platform name it; message- and source-level alerts say they cover all.
      expect(description, rule.alert).toMatch(/\{\{ \$labels\.platform \}\}|all platforms/);
      expect(rule.annotations?.runbook_url, rule.alert).toBe(`${runbookBase}${rule.alert.toLowerCase()}`);
      // GitHub's anchor for "### PushNotificationsAbandoned" is #pushnotificationsabandoned.
      expect(readme, `runbook heading for ${rule.alert}`).toMatch(new RegExp(`^#{2,4} ${rule.alert}$`, 'm'));
    }
    expect(alertRules.find((rule) => rule.alert === 'PushNotificationInvalidCredentials')?.labels?.severity).toBe('critical');
  });

  it('link runbooks that a running exporter serves: each runbook_url anchor is a heading of its /readme page', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'pne-runbooks-'));
    const exporter = await startExporter({
      config: parseConfig(
        JSON.stringify({
          server: { listen: '127.0.0.1:0' },
          storage: { path: join(folder, 'state.db') },
          everlive: [{ name: 'runbooks', endpoint: 'http://127.0.0.1:9', appId: 'app', masterKey: 'key', schedule: '0 0 1 1 *' }],
        }),
      ),
      logger: silentLogger(),
    });
    try {
      const landing = await (await request(`${exporter.url}/`)).body.text();
      expect(landing).toContain('href="readme#runbooks"');
      const response = await request(`${exporter.url}/readme`);
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/html/);
      const page = await response.body.text();
      for (const rule of alertRules) {
        const anchor = new URL(rule.annotations?.runbook_url ?? '').hash.slice(1);
        expect(page, rule.alert).toContain(`<h3 id="${anchor}">${rule.alert}</h3>`);
      }
    } finally {
      await exporter.stop();
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('each have unit tests where they must fire and where they must not', () => {
    const alertTests = ruleTests.flatMap((file) => file.tests.flatMap((test) => test.alert_rule_test ?? []));
    for (const name of designAlertNames) {
      const cases = alertTests.filter((test) => test.alertname === name);
      expect(cases.some((test) => test.exp_alerts.length > 0), `${name} must fire somewhere`).toBe(true);
      expect(cases.some((test) => test.exp_alerts.length === 0), `${name} must stay quiet somewhere`).toBe(true);
    }
  });
});

describe('recording rules', () => {
  it('are named level:metric:operations, the level being the labels they keep', () => {
    for (const rule of recordingRules) {
      const [level, metric, operations] = rule.record.split(':');
      expect(rule.record.split(':'), rule.record).toHaveLength(3);
      expect(metric, rule.record).toMatch(/^push_notification_[a-z_]+$/);
      expect(metric, rule.record).not.toMatch(/_total$/);
      expect(operations, rule.record).toMatch(/^(rate|ratio_rate)(5m|1h)$/);
      const grouping = /^sum by \(([^)]*)\)/.exec(rule.expr.trim());
      if (grouping) expect(level, rule.record).toBe((grouping[1] as string).split(',').map((label) => label.trim()).join('_'));
    }
  });

  it('record failure ratios per target and platform over a short and a long window, and message rates by state', () => {
    const names = recordingRules.map((rule) => rule.record);
    expect(names).toEqual(
      expect.arrayContaining([
        'source_target_platform:push_notification_delivery_failures_per_attempts:ratio_rate5m',
        'source_target_platform:push_notification_delivery_failures_per_attempts:ratio_rate1h',
        'source_target_state:push_notification_messages:rate5m',
      ]),
    );
  });

  it('each have a unit test', () => {
    const tested = ruleTests.flatMap((file) => file.tests.flatMap((test) => (test.promql_expr_test ?? []).map((check) => check.expr)));
    for (const rule of recordingRules) expect(tested.some((expr) => expr.includes(rule.record)), rule.record).toBe(true);
  });
});

describe('the failure classification', () => {
  it('is the same in every rule and every dashboard query', () => {
    const expressions = [...rules.map((rule) => rule.expr), ...panelQueries().map((query) => query.expr)];
    const matchers = expressions.flatMap((expr) => [...expr.matchAll(/outcome\s*(=~|!~|!=|=)\s*"[^"]*"/g)].map((match) => match[0].replace(/\s/g, '')));
    expect(matchers.length).toBeGreaterThan(10);
    for (const matcher of matchers) expect(classificationMatchers, matcher).toContain(matcher);
  });
});
