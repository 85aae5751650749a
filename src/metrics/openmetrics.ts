import type { Registry } from 'prom-client';
import type { Exemplar, ExemplarStore } from './exemplars.js';
import { renderFamily, type ExpositionFamily, type ExpositionFormat, type ExpositionSample } from './exposition.js';

/**
 * The registry rendered in the OpenMetrics text format (https://openmetrics.io), with exemplars on
 * counters and histogram buckets. prom-client picks one format per registry and renames counters
 * in place when rendering OpenMetrics, so the plain-text registry is rendered here instead of kept twice.
 * Renders every family afresh; scrapes go through scrape-renderer.ts, which reuses what did not change.
 */
export async function renderOpenMetrics(registry: Registry, exemplars: ExemplarStore): Promise<string> {
  const families = (await registry.getMetricsAsJSON()) as unknown as ExpositionFamily[];
  const format = openMetricsFormat(exemplars);
  const lines = families.map((family) => renderFamily(format, family));
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

/** OpenMetrics lines, with each counter's and histogram bucket's latest exemplar. */
export function openMetricsFormat(exemplars: ExemplarStore): ExpositionFormat {
  return {
    header(family) {
      const type = openMetricsType(family.type);
      const name = familyName(family.name, type);
      return `# TYPE ${name} ${type}\n# HELP ${name} ${escapeHelp(family.help)}`;
    },
    annotation(family, sample) {
      const type = openMetricsType(family.type);
      return exemplarFor(family.name, type, sampleName(family, type, sample), sample.labels ?? {}, exemplars);
    },
    line(family, sample, annotation) {
      const type = openMetricsType(family.type);
      let line = `${sampleName(family, type, sample)}${formatLabels(sample.labels ?? {})} ${formatValue(sample.value)}`;
      const exemplar = annotation as Exemplar | undefined;
      if (exemplar) line += ` # {notification_id="${escapeLabel(exemplar.notificationId)}"} ${formatValue(exemplar.value)} ${exemplar.timestamp.toFixed(3)}`;
      return line;
    },
  };
}

function familyName(name: string, type: string): string {
  return type === 'counter' ? name.replace(/_total$/, '') : name;
}

/** Counter sample names by family name: asked once per sample, thousands of times per scrape. */
const counterSampleNames = new Map<string, string>();

function sampleName(family: ExpositionFamily, type: string, sample: ExpositionSample): string {
  if (type !== 'counter') return sample.metricName ?? family.name;
  let name = counterSampleNames.get(family.name);
  if (name === undefined) counterSampleNames.set(family.name, (name = `${familyName(family.name, type)}_total`));
  return name;
}

const knownTypes = new Set(['counter', 'gauge', 'histogram', 'summary']);

function openMetricsType(type: string): string {
  return knownTypes.has(type) ? type : 'unknown';
}

function exemplarFor(family: string, type: string, sampleName: string, labels: Record<string, string | number>, exemplars: ExemplarStore) {
  if (type === 'counter') return exemplars.get(family, labels);
  if (type === 'histogram' && sampleName.endsWith('_bucket')) return exemplars.get(`${family}_bucket`, labels);
  return undefined;
}

/** The exemplar family a metric family's samples look up (see exemplarFor), if it can have any. */
export function exemplarFamilyOf(name: string, type: string): string | undefined {
  const openMetrics = openMetricsType(type);
  if (openMetrics === 'counter') return name;
  if (openMetrics === 'histogram') return `${name}_bucket`;
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
