import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Reading the committed Grafana dashboards and their PromQL, shared by the lint and e2e tests. */

export const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
export const dashboardsFolder = join(repositoryRoot, 'grafana', 'dashboards');

export interface DatasourceReference {
  type?: string;
  uid?: string;
}

export interface DashboardTarget {
  refId: string;
  expr?: string;
  legendFormat?: string;
  datasource?: DatasourceReference | string;
  /** Grafana also asks Prometheus for the exemplars of this query. */
  exemplar?: boolean;
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: DatasourceReference | string;
  gridPos?: { h: number; w: number; x: number; y: number };
  fieldConfig?: { defaults?: { unit?: string; thresholds?: { steps: { color: string; value: number | null }[] } } };
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}

export interface DashboardVariable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
  datasource?: DatasourceReference | string;
  includeAll?: boolean;
  multi?: boolean;
  allValue?: string;
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: DashboardPanel[];
  templating: { list: DashboardVariable[] };
}

export interface DashboardFile {
  file: string;
  text: string;
  dashboard: Dashboard;
}

export function loadDashboards(): DashboardFile[] {
  return readdirSync(dashboardsFolder)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => {
      const text = readFileSync(join(dashboardsFolder, file), 'utf8');
      return { file, text, dashboard: JSON.parse(text) as Dashboard };
    });
}

/** Every panel that shows data: rows flattened (collapsed rows keep theirs in `panels`), rows left out. */
export function dataPanels(dashboard: Dashboard): DashboardPanel[] {
  return dashboard.panels.flatMap((panel) => (panel.type === 'row' ? (panel.panels ?? []) : [panel]));
}

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
}

export function panelQueries(files: readonly DashboardFile[] = loadDashboards()): PanelQuery[] {
  return files.flatMap(({ dashboard }) =>
    dataPanels(dashboard).flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ dashboard: dashboard.uid, panel: panel.title, refId: target.refId, expr: target.expr ?? '' })),
    ),
  );
}

export function variableQuery(variable: DashboardVariable): string {
  return typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
}

/** Grafana's label_values(selector, label) split into its parts, or undefined for other queries. */
export function parseLabelValues(query: string): { selector: string; label: string } | undefined {
  const match = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(query.trim());
  return match ? { selector: match[1] as string, label: match[2] as string } : undefined;
}

/**
 * Replaces Grafana variables ($name, ${name}, ${name:format}, [[name]]) the way Grafana would before
 * sending a query. An unknown variable throws: a query must not depend on something nobody defines.
 */
export function substituteVariables(expr: string, values: Readonly<Record<string, string>>): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (whole, braced?: string, bracketed?: string, plain?: string) => {
    const name = braced ?? bracketed ?? plain ?? '';
    const value = values[name];
    if (value === undefined) throw new Error(`no value for Grafana variable ${whole} in: ${expr}`);
    return value;
  });
}

const promqlKeywords = new Set([
  'and', 'or', 'unless', 'bool', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset',
  'inf', 'nan', 'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile',
  'count_values', 'group',
]);

/**
 * The metric names a PromQL expression selects. Strings, label matchers, ranges and grouping label
 * lists are blanked first; what is left that is not a keyword or a function call is a metric name.
 */
export function metricNamesIn(expr: string): string[] {
  const skeleton = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?\w+/g, ' ');
  const names = new Set<string>();
  for (const match of skeleton.matchAll(/(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = match[0];
    const following = skeleton.slice((match.index ?? 0) + name.length).trimStart();
    if (following.startsWith('(') || promqlKeywords.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

/** Every `{...}` label-matcher block that follows `metric` in `expr`. */
export function selectorsOf(expr: string, metric: string): string[] {
  const blocks: string[] = [];
  for (const match of expr.matchAll(new RegExp(`\\b${metric}\\b(\\{[^}]*\\})?`, 'g'))) blocks.push(match[1] ?? '');
  return blocks;
}

/** Every object in a JSON document with its path, to look for keys anywhere (e.g. "datasource"). */
export function* walkJson(value: unknown, path = '$'): Generator<{ path: string; key: string; value: unknown }> {
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) yield* walkJson(item, `${path}[${index}]`);
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      yield { path: `${path}.${key}`, key, value: item };
      yield* walkJson(item, `${path}.${key}`);
    }
  }
}
