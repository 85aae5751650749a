import type { ExpositionFormat, ExpositionSample } from './exposition.js';

/**
 * The Prometheus text format 0.0.4 exactly as prom-client 15 writes it (lib/registry.js,
 * `getMetricsAsString`, with no default labels), for the families scrape-renderer.ts renders in
 * pieces. A test compares the whole scrape with `registry.metrics()` byte for byte, so an upgrade
 * of prom-client that writes differently fails there.
 */
export const textFormat: ExpositionFormat = {
  header(family) {
    const name = escapeString(family.name);
    return `# HELP ${name} ${escapeString(family.help)}\n# TYPE ${name} ${family.type}`;
  },
  annotation: () => undefined,
  line(family, sample) {
    return `${sample.metricName ?? escapeString(family.name)}${formatLabels(sample)} ${formatValue(sample.value)}`;
  },
};

/** By label-set object: the durable counters hand the same (never changed) objects to every scrape. */
const formattedLabels = new WeakMap<object, string>();

function formatLabels(sample: ExpositionSample): string {
  const labels = sample.labels ?? {};
  let formatted = formattedLabels.get(labels);
  if (formatted === undefined) {
    const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
    formatted = pairs.length > 0 ? `{${pairs.join(',')}}` : '';
    formattedLabels.set(labels, formatted);
  }
  return formatted;
}

/** prom-client's getValueAsString, its spelling of NaN included. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

function escapeLabelValue(value: string | number): string {
  return typeof value === 'string' ? escapeString(value).replace(/"/g, '\\"') : `${value}`;
}

function escapeString(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
