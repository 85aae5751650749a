import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { startExporter, type RunningExporter } from '../../src/exporter.js';
import { silentLogger } from '../../src/logging/logger.js';
import {
  dataPanels,
  loadDashboards,
  metricNamesIn,
  panelQueries,
  parseLabelValues,
  repositoryRoot,
  selectorsOf,
  variableQuery,
  walkJson,
  type DashboardFile,
  type DashboardVariable,
} from '../support/dashboards.js';

/**
 * Lint of the committed Grafana dashboards (grafana/dashboards/*.json): what Grafana needs to show
 * them anywhere (no data source baked in, stable uids, units) and what keeps them true to the
 * exporter (only metrics it exposes, the target and platform filters, $__rate_interval).
 * test/e2e/prometheus-alertmanager.test.ts runs the same queries against a real Prometheus.
 */

const expectedUids = ['push-notification-exporter-health', 'push-notification-overview'];
const datasourceReference = '${datasource}';
// Series of these families carry no target label (intake items carry theirs since issue 11).
const familiesWithoutTarget = new Set(['push_notification_exporter_build_info']);

const dashboards = loadDashboards();

function byUid(uid: string): DashboardFile {
  const found = dashboards.find(({ dashboard }) => dashboard.uid === uid);
  if (!found) throw new Error(`no dashboard with uid ${uid}`);
  return found;
}

/** Family name → type, from a real scrape of a freshly started exporter (HELP/TYPE lines appear even without series). */
async function exposedFamilies(exporter: RunningExporter): Promise<Map<string, string>> {
  const response = await request(`${exporter.url}/metrics`);
  const text = await response.body.text();
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1] as string, match[2] as string]));
}

/** The family a sample name belongs to: histograms expose _bucket, _sum and _count. */
function familyOf(name: string, families: ReadonlyMap<string, string>): string | undefined {
  if (families.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return families.get(base) === 'histogram' ? base : undefined;
}

describe('Grafana dashboards', () => {
  let folder: string;
  let exporter: RunningExporter;
  let families: Map<string, string>;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'pne-dashboards-'));
    // Process metrics on, as in production: the exporter-health dashboard shows them.
    exporter = await startExporter({
      config: parseConfig(
        JSON.stringify({
          server: { listen: '127.0.0.1:0' },
          storage: { path: join(folder, 'state.db') },
          azureNotificationHubs: [
            {
              name: 'lint',
              connectionString: 'Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=not-used',
              hub: 'lint',
              // Nothing listens there: the probe fails fast, and the families are exposed all the same.
              endpoint: 'http://127.0.0.1:9',
            },
          ],
        }),
      ),
      logger: silentLogger(),
    });
    families = await exposedFamilies(exporter);
  });

  afterAll(async () => {
    await exporter?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  it('are the two expected dashboards, with stable unique uids, unique titles and unique panel ids', () => {
    expect(dashboards.map(({ dashboard }) => dashboard.uid).sort()).toEqual(expectedUids);
    expect(new Set(dashboards.map(({ dashboard }) => dashboard.title)).size).toBe(dashboards.length);
    for (const { dashboard } of dashboards) {
      const ids = [...dashboard.panels, ...dashboard.panels.flatMap((panel) => panel.panels ?? [])].map((panel) => panel.id);
      expect(new Set(ids).size, dashboard.uid).toBe(ids.length);
    }
  });

  it('are committed formatted as JSON.stringify(…, null, 2), so diffs stay readable', () => {
    for (const { file, text, dashboard } of dashboards) {
      expect(text, file).toBe(`${JSON.stringify(dashboard, null, 2)}\n`);
    }
  });

  it('never hard-code a data source: every reference is the $datasource variable', () => {
    for (const { file, text, dashboard } of dashboards) {
      expect(text, file).not.toContain('__inputs');
      expect(text, file).not.toMatch(/\$\{DS_/);
      for (const { path, key, value } of walkJson(dashboard)) {
        if (key !== 'datasource') continue;
        const uid = typeof value === 'string' ? value : (value as { uid?: string; type?: string }).uid;
        expect(uid, `${file} ${path}`).toBe(datasourceReference);
        if (typeof value === 'object') expect((value as { type?: string }).type, `${file} ${path}`).toBe('prometheus');
      }
    }
  });

  it('have a Prometheus data source variable and multi-value job, instance and target variables, plus platform on the overview', () => {
    for (const { file, dashboard } of dashboards) {
      const variables = new Map(dashboard.templating.list.map((variable) => [variable.name, variable]));
      expect(dashboard.templating.list.map((variable) => variable.name).slice(0, 4), file).toEqual(['datasource', 'job', 'instance', 'target']);
      expect(variables.get('datasource'), file).toMatchObject({ type: 'datasource', query: 'prometheus' });
      // "All" jobs are the jobs the mixin's selector finds (no allValue: Grafana lists them), so the
      // dashboards show what the alerts watch.
      expect(variables.get('job'), file).toMatchObject({ type: 'query', multi: true, includeAll: true });
      expect(variables.get('job')?.allValue, file).toBeUndefined();
      expect(variableQuery(variables.get('job') as DashboardVariable), file).toBe('label_values(push_notification_exporter_build_info{job="push-notification-exporter"}, job)');
      expect(variableQuery(variables.get('instance') as DashboardVariable), file).toBe('label_values(push_notification_exporter_build_info{job=~"$job"}, instance)');
      expect(variables.get('instance'), file).toMatchObject({ type: 'query', multi: true, includeAll: true, allValue: '.*' });
      expect(variables.get('target'), file).toMatchObject({ type: 'query', multi: true, includeAll: true, allValue: '.*' });
      for (const variable of dashboard.templating.list.filter((candidate) => candidate.type === 'query')) {
        expect(parseLabelValues(variableQuery(variable)), `${file} $${variable.name}`).toBeDefined();
      }
    }
    const overview = byUid('push-notification-overview').dashboard;
    expect(overview.templating.list.find((variable) => variable.name === 'platform')).toMatchObject({
      type: 'query',
      multi: true,
      includeAll: true,
      allValue: '.*',
    });
  });

  it('give every data panel a unit, a description, at least one query and a place inside the 24-column grid', () => {
    for (const { file, dashboard } of dashboards) {
      for (const panel of dataPanels(dashboard)) {
        const where = `${file}: ${panel.title}`;
        expect(panel.fieldConfig?.defaults?.unit, where).toMatch(/\S/);
        expect(panel.description, where).toMatch(/\S/);
        expect(panel.targets?.length, where).toBeGreaterThan(0);
        for (const target of panel.targets ?? []) expect(target.expr, `${where} ${target.refId}`).toMatch(/\S/);
        const grid = panel.gridPos;
        expect(grid, where).toBeDefined();
        if (grid) expect(grid.x + grid.w, where).toBeLessThanOrEqual(24);
      }
    }
  });

  it('name only metric families the exporter exposes, in panels and variables', () => {
    const expressions = [
      ...panelQueries(dashboards).map((query) => ({ where: `${query.dashboard}: ${query.panel} ${query.refId}`, expr: query.expr })),
      ...dashboards.flatMap(({ dashboard }) =>
        dashboard.templating.list
          .filter((variable) => variable.type === 'query')
          .map((variable) => ({ where: `${dashboard.uid}: $${variable.name}`, expr: parseLabelValues(variableQuery(variable))?.selector ?? '' })),
      ),
    ];
    expect(families.size).toBeGreaterThan(10);
    for (const { where, expr } of expressions) {
      const names = metricNamesIn(expr);
      expect(names.length, where).toBeGreaterThan(0);
      for (const name of names) expect(familyOf(name, families), `${where} uses ${name}`).toBeDefined();
    }
  });

  it('use $__rate_interval for every rate window ($__range only for totals over the time range)', () => {
    const queries = panelQueries(dashboards);
    for (const query of queries) {
      for (const [, window] of query.expr.matchAll(/\[([^\]]*)\]/g)) {
        expect(['$__rate_interval', '$__range'], `${query.dashboard}: ${query.panel}`).toContain(window);
      }
      if (/\$__range\b/.test(query.expr)) expect(query.expr, query.panel).toMatch(/^sum(?: by \([^)]*\) )?\(increase\(/);
    }
    expect(queries.filter((query) => query.expr.includes('[$__rate_interval]')).length).toBeGreaterThan(10);
  });

  it('filter every per-target series on $target, and outcomes on $platform where the dashboard has it', () => {
    for (const { dashboard } of dashboards) {
      const hasPlatform = dashboard.templating.list.some((variable) => variable.name === 'platform');
      for (const panel of dataPanels(dashboard)) {
        for (const target of panel.targets ?? []) {
          const expr = target.expr ?? '';
          const where = `${dashboard.uid}: ${panel.title} ${target.refId}`;
          for (const name of metricNamesIn(expr).filter((candidate) => candidate.startsWith('push_notification_'))) {
            const family = familyOf(name, families) ?? name;
            if (familiesWithoutTarget.has(family)) continue;
            for (const selector of selectorsOf(expr, name)) expect(selector, `${where} ${name}`).toContain('target=~"$target"');
          }
          if (hasPlatform) {
            for (const selector of selectorsOf(expr, 'push_notification_outcomes_total')) {
              expect(selector, `${where} outcomes`).toContain('platform=~"$platform"');
            }
          }
        }
      }
    }
  });

  it('filter every series on $job and $instance', () => {
    for (const { dashboard } of dashboards) {
      for (const panel of dataPanels(dashboard)) {
        for (const target of panel.targets ?? []) {
          const expr = target.expr ?? '';
          for (const name of metricNamesIn(expr)) {
            for (const selector of selectorsOf(expr, name)) {
              const where = `${dashboard.uid}: ${panel.title} ${target.refId} ${name}`;
              expect(selector, where).toContain('job=~"$job"');
              expect(selector, where).toContain('instance=~"$instance"');
            }
          }
        }
      }
    }
  });

  it('show why devices failed: PNS errors by platform and error (issue 13), not narrowed by $platform', () => {
    const panel = dataPanels(byUid('push-notification-overview').dashboard).find((candidate) => candidate.title === 'PNS errors by platform and error');
    const expr = panel?.targets?.[0]?.expr ?? '';
    expect(expr).toMatch(/^sum by \(platform, error\) \(rate\(push_notification_pns_errors_total\{[^}]*\}\[\$__rate_interval\]\)\)$/);
    // The records name their platform themselves, which need not be the outcome collections' names.
    expect(expr).not.toContain('$platform');
    expect(panel?.fieldConfig?.defaults?.unit).toBe('cps');
  });

  it('never add outcomes or source health up across sources: a hub read per message and through Azure Monitor would count twice (issue 14)', () => {
    const perSource = ['push_notification_outcomes_total', 'push_notification_source_up', 'push_notification_source_last_success_timestamp_seconds'];
    for (const query of panelQueries(dashboards)) {
      const names = metricNamesIn(query.expr);
      if (!names.some((name) => perSource.includes(name))) continue;
      const where = `${query.dashboard}: ${query.panel} ${query.refId}`;
      // Either every selector of these families picks one source, or every aggregation keeps `source`.
      const selectors = perSource.flatMap((name) => selectorsOf(query.expr, name));
      const oneSource = selectors.every((selector) => /source="[^"]+"/.test(selector));
      const aggregations = [...query.expr.matchAll(/\b(?:sum|max|min|avg|count)\s*(?:by\s*\(([^)]*)\))?\s*\(/g)];
      expect(aggregations.length, where).toBeGreaterThan(0);
      for (const [, grouping] of aggregations) {
        const labels = (grouping ?? '').split(',').map((label) => label.trim());
        expect(labels.includes('source') || oneSource, `${where}: ${query.expr}`).toBe(true);
      }
    }
  });

  it('show coverage per target and platform: tracked per-message outcomes against Azure Monitor\'s counts (issue 14)', () => {
    const overview = dataPanels(byUid('push-notification-overview').dashboard);
    const lines = overview.find((panel) => panel.title === 'Coverage: tracked against Azure Monitor by target and platform');
    const share = overview.find((panel) => panel.title === 'Share of pushes tracked');
    const [tracked, monitor] = (lines?.targets ?? []).map((target) => target.expr ?? '');
    for (const [expr, source] of [
      [tracked, 'azure_notification_hubs'],
      [monitor, 'azure_monitor'],
    ] as const) {
      expect(expr).toMatch(/^sum by \(target, platform\) \(rate\(push_notification_outcomes_total\{[^}]*\}\[\$__rate_interval\]\)\)$/);
      expect(selectorsOf(expr ?? '', 'push_notification_outcomes_total')).toEqual([expect.stringContaining(`source="${source}"`)]);
      expect(expr).toContain('outcome!~"Skipped|NoTargets"');
    }
    const ratio = share?.targets?.[0]?.expr ?? '';
    expect(selectorsOf(ratio, 'push_notification_outcomes_total').map((selector) => /source="([^"]+)"/.exec(selector)?.[1])).toEqual(['azure_notification_hubs', 'azure_monitor']);
    expect(share?.fieldConfig?.defaults?.unit).toBe('percentunit');
  });

  it('turn exemplars on in the failure and latency panels, once per panel', () => {
    const withExemplars = dashboards.flatMap(({ dashboard }) =>
      dataPanels(dashboard).flatMap((panel) => {
        const count = (panel.targets ?? []).filter((target) => target.exemplar === true).length;
        return count === 0 ? [] : [`${panel.title} ${count}`];
      }),
    );
    expect(withExemplars.sort()).toEqual([
      'Abandoned messages 1',
      'Failure ratio by target and platform 1',
      'Failures by cause 1',
      'Processing duration (start to end) 1',
      'Queue duration (enqueue to start) 1',
    ]);
  });

  it('draw the alerts\' thresholds where they show them (both come from the mixin\'s _config)', () => {
    const alerting = parse(readFileSync(join(repositoryRoot, 'alerts/push-notification-alerting-rules.yml'), 'utf8')) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const alertExpr = (name: string) => alerting.groups.flatMap((group) => group.rules).find((rule) => rule.alert === name)?.expr ?? '';
    const ratioThreshold = Number(/ratio_rate1h > ([\d.]+)/.exec(alertExpr('PushNotificationFailureRatioHigh'))?.[1]);
    const staleSeconds = Number(/\) > (\d+)\n/.exec(alertExpr('PushNotificationTelemetryStale'))?.[1]);
    expect([ratioThreshold, staleSeconds]).toEqual([0.1, 900]);
    const steps = (uid: string, title: string) =>
      dataPanels(byUid(uid).dashboard)
        .find((panel) => panel.title === title)
        ?.fieldConfig?.defaults?.thresholds?.steps.map((step) => step.value);
    expect(steps('push-notification-overview', 'Failure ratio by target and platform')).toEqual([null, ratioThreshold]);
    expect(steps('push-notification-overview', 'Time since last valid answer')).toEqual([null, staleSeconds]);
    expect(steps('push-notification-exporter-health', 'Time since last valid answer')).toEqual([null, staleSeconds]);
  });

  it('cover what issue 4 asks of each view', () => {
    const titles = (uid: string) => dataPanels(byUid(uid).dashboard).map((panel) => panel.title);
    expect(titles('push-notification-overview')).toEqual(
      expect.arrayContaining([
        'Delivery success ratio',
        'Outcomes by platform and outcome',
        'Failures by cause',
        'Messages finished by state',
        'Abandoned messages',
        'Queue duration (enqueue to start)',
        'Processing duration (start to end)',
        'Source up',
      ]),
    );
    expect(titles('push-notification-exporter-health')).toEqual(
      expect.arrayContaining(['Upstream requests by code', 'Upstream request duration', 'Messages being tracked by state', 'Intake items by result']),
    );
  });

  it('show the per-target conservation of intake items (issue 11): accepted minus finished, given up and tracked', () => {
    const panel = dataPanels(byUid('push-notification-exporter-health').dashboard).find((candidate) => candidate.title === 'Intake conservation per target');
    const expr = panel?.targets?.[0]?.expr ?? '';
    expect(metricNamesIn(expr).sort()).toEqual([
      'push_notification_intake_notifications_total',
      'push_notification_messages_total',
      'push_notification_tracked_messages',
      'push_notification_tracking_expired_total',
    ]);
    expect(expr).toMatch(/^sum by \(target\) \(push_notification_intake_notifications_total\{[^}]*result="accepted"[^}]*\}\) - \(/);
    // Only Azure series: Everlive notifications never come through the intake.
    for (const name of ['push_notification_messages_total', 'push_notification_tracking_expired_total', 'push_notification_tracked_messages']) {
      for (const selector of selectorsOf(expr, name)) expect(selector, name).toContain('source="azure_notification_hubs"');
    }
  });

  it('are provisioned from files, and the example data source is Prometheus', () => {
    const provider = parse(readFileSync(join(repositoryRoot, 'grafana/provisioning/dashboards/push-notification-exporter.yaml'), 'utf8')) as {
      apiVersion: number;
      providers: { type: string; options: { path: string } }[];
    };
    expect(provider.apiVersion).toBe(1);
    expect(provider.providers).toHaveLength(1);
    expect(provider.providers[0]).toMatchObject({ type: 'file', options: { path: expect.stringMatching(/^\//) as unknown } });
    const datasources = parse(readFileSync(join(repositoryRoot, 'grafana/provisioning/datasources/prometheus.yaml'), 'utf8')) as {
      datasources: { type: string }[];
    };
    expect(datasources.datasources.map((datasource) => datasource.type)).toEqual(['prometheus']);
  });
});

describe('metricNamesIn', () => {
  it('finds metric names and ignores functions, keywords, labels, strings, ranges and variables', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.95, sum by (operation, le) (rate(a_seconds_bucket{target=~"$target", code!="x_y"}[$__rate_interval]))) / on (job) group_left b_total offset 5m and c > 1e3',
      ).sort(),
    ).toEqual(['a_seconds_bucket', 'b_total', 'c']);
    expect(metricNamesIn('time() - max(x_timestamp_seconds)')).toEqual(['x_timestamp_seconds']);
  });
});
