import type { Registry } from 'prom-client';
import type { ExemplarStore } from './exemplars.js';

interface Sample {
  metricName?: string;
  labels?: Record<string, string | number>;
  value: number;
}

interface Family {
  name: string;
  help: string;
  type: string;
  values?: Sample[];
}

/**
 * The registry rendered in the OpenMetrics text format (https://openmetrics.io), with exemplars on
 * counters and histogram buckets. prom-client picks one format per registry and renames counters
 * in place when rendering OpenMetrics, so the plain-text registry is rendered here instead of kept twice.
 */
export async function renderOpenMetrics(registry: Registry, exemplars: ExemplarStore): Promise<string> {
  const families = (await registry.getMetricsAsJSON()) as unknown as Family[];
  const lines: string[] = [];
  for (const family of families) {
    const type = ['counter', 'gauge', 'histogram', 'summary'].includes(String(family.type)) ? String(family.type) : 'unknown';
    const name = type === 'counter' ? family.name.replace(/_total$/, '') : family.name;
    lines.push(`# TYPE ${name} ${type}`, `# HELP ${name} ${escapeHelp(family.help)}`);
    for (const sample of family.values ?? []) {
      const labels = sample.labels ?? {};
      const sampleName = type === 'counter' ? `${name}_total` : (sample.metricName ?? family.name);
      let line = `${sampleName}${formatLabels(labels)} ${formatValue(sample.value)}`;
      const exemplar = exemplarFor(family.name, type, sampleName, labels, exemplars);
      if (exemplar) line += ` # {notification_id="${escapeLabel(exemplar.notificationId)}"} ${formatValue(exemplar.value)} ${exemplar.timestamp.toFixed(3)}`;
      lines.push(line);
    }
  }
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

function exemplarFor(family: string, type: string, sampleName: string, labels: Record<string, string | number>, exemplars: ExemplarStore) {
  if (type === 'counter') return exemplars.get(family, labels);
  if (type === 'histogram' && sampleName.endsWith('_bucket')) return exemplars.get(`${family}_bucket`, labels);
  return undefined;
}

/**
 * Formatted label sets, by label-set object: the durable counters hand the same (never changed)
 * objects to every scrape, so thousands of outcome series are formatted once, not per scrape.
 */
const formattedLabels = new WeakMap<object, string>();

function formatLabels(labels: Record<string, string | number>): string {
  let formatted = formattedLabels.get(labels);
  if (formatted === undefined) formattedLabels.set(labels, (formatted = formatLabelsOnce(labels)));
  return formatted;
}

function formatLabelsOnce(labels: Record<string, string | number>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([name, value]) => `${name}="${escapeLabel(String(value))}"`).join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
