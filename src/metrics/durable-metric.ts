import { labelKey, type CounterTotals, type HistogramTotals, type LabelSet } from './totals.js';

/**
 * prom-client metric objects whose values come from the durable totals at scrape time (prom-client
 * calls `get()` on every registered metric). Counting happens in the tracking store, never here.
 */
interface ScrapedValue {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

interface ScrapedFamily {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: ScrapedValue[];
}

/** Registered with `registry.registerMetric(metric as unknown as Metric)`: prom-client only calls get(). */
export interface ScrapedMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  get(): Promise<ScrapedFamily>;
  reset(): void;
  /**
   * Changes whenever what get() returns may have (the totals of this family moved); the rest of
   * what it shows (which targets, which seeds) is fixed at start. Read before get(), so a change
   * in between only makes the next scrape render again.
   */
  changeVersion(): number;
}

/**
 * `include` asked once per label set: the totals never change a series' label set and what is
 * included is fixed at start, so thousands of outcome series do not pay for it on every scrape.
 */
function includedOnce(include: (labels: LabelSet) => boolean): (labels: LabelSet) => boolean {
  const decided = new WeakMap<LabelSet, boolean>();
  return (labels) => {
    let included = decided.get(labels);
    if (included === undefined) decided.set(labels, (included = include(labels)));
    return included;
  };
}

export function durableCounter(options: {
  name: string;
  help: string;
  totals: CounterTotals;
  /** Decides which series are shown (for example only configured targets), and seeds zero series. */
  include: (labels: LabelSet) => boolean;
  seed?: () => LabelSet[];
}): ScrapedMetric {
  const { name, help, totals, seed } = options;
  const include = includedOnce(options.include);
  return {
    name,
    help,
    type: 'counter',
    aggregator: 'sum',
    reset() {},
    changeVersion: () => totals.version(name),
    get: () => {
      // Seeded zero series are replaced by their real value in place; only families with seeds pay
      // for the label keys (the outcome family can hold thousands of series).
      const seeded = new Map<string, ScrapedValue>();
      for (const labels of seed?.() ?? []) seeded.set(labelKey(labels), { labels: { ...labels }, value: 0 });
      const values: ScrapedValue[] = [];
      for (const series of totals.series(name)) {
        if (!include(series.labels)) continue;
        // The totals' label sets are never changed once created: passed as they are, so renderers
        // can cache what they derive from them (see openmetrics.ts).
        const value = { labels: series.labels, value: series.value };
        const key = seeded.size > 0 ? labelKey(series.labels) : undefined;
        if (key !== undefined && seeded.has(key)) seeded.set(key, value);
        else values.push(value);
      }
      return Promise.resolve({ name, help, type: 'counter', aggregator: 'sum', values: [...seeded.values(), ...values] });
    },
  };
}

export function durableHistogram(options: {
  name: string;
  help: string;
  totals: HistogramTotals;
  include: (labels: LabelSet) => boolean;
}): ScrapedMetric {
  const { name, help, totals } = options;
  const include = includedOnce(options.include);
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset() {},
    changeVersion: () => totals.version(name),
    get: () => {
      const values: ScrapedValue[] = [];
      for (const series of totals.series(name)) {
        if (!include(series.labels)) continue;
        let cumulative = 0;
        series.bounds.forEach((bound, index) => {
          cumulative += series.bucketCounts[index] ?? 0;
          values.push({ metricName: `${name}_bucket`, labels: { ...series.labels, le: bound }, value: cumulative });
        });
        values.push({ metricName: `${name}_bucket`, labels: { ...series.labels, le: '+Inf' }, value: series.count });
        values.push({ metricName: `${name}_sum`, labels: { ...series.labels }, value: series.sum });
        values.push({ metricName: `${name}_count`, labels: { ...series.labels }, value: series.count });
      }
      return Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values });
    },
  };
}
