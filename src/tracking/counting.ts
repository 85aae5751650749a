import { metricNames } from '../metrics/names.js';
import {
  CounterTotals,
  HistogramTotals,
  cachedLabelKey,
  type CounterIncrement,
  type HistogramObservation,
  type HistogramSeries,
  type LabelSet,
} from '../metrics/totals.js';

/**
 * The in-memory side of the durable totals, shared by the backends: a backend computes what a
 * change does to the totals (preview), persists that in its transaction, and applies it here only
 * after the commit.
 */
export class TotalsMirror {
  readonly counters = new CounterTotals();
  readonly histograms: HistogramTotals;

  constructor(histogramBounds: ReadonlyMap<string, readonly number[]>) {
    this.histograms = new HistogramTotals(histogramBounds);
  }

  /** The histogram series as they will be after these observations, grouped per series. */
  previewHistograms(observations: readonly HistogramObservation[]): HistogramUpdate[] {
    const groups = new SeriesGroups<{ family: string; labels: LabelSet; values: number[] }>();
    for (const observation of observations) {
      groups.find(observation.family, observation.labels, () => ({ family: observation.family, labels: observation.labels, values: [] })).values.push(observation.value);
    }
    return groups.all.map((group) => ({
      family: group.family,
      series: this.histograms.preview(group.family, group.labels, group.values),
    }));
  }

  applyCounters(increments: readonly CounterIncrement[]): void {
    for (const increment of increments) this.counters.add(increment.family, increment.labels, increment.value);
  }

  applyHistograms(updates: readonly HistogramUpdate[]): void {
    for (const { family, series } of updates) this.histograms.replace(family, series);
  }

  /**
   * Takes a stored histogram series if its buckets are today's: buckets that changed between
   * versions cannot be re-split.
   */
  restoreHistogram(family: string, stored: { labels: LabelSet; bounds: string; bucketCounts: number[]; sum: number; count: number }): void {
    const bounds = this.histograms.bounds(family);
    if (stored.bounds !== JSON.stringify(bounds)) return;
    this.histograms.replace(family, { labels: stored.labels, bounds, bucketCounts: stored.bucketCounts, sum: stored.sum, count: stored.count });
  }
}

export interface HistogramUpdate {
  family: string;
  series: HistogramSeries;
}

/**
 * A state written before outcome names were case-folded may hold one message's count under two
 * spellings (`success` and `Success`, each the count its own answers reported). Counts only grow, so
 * the larger is the latest: taking it (never the sum) means the next answer adds only real growth.
 */
export function keepLargest(counts: Map<string, bigint>, key: string, count: bigint): void {
  const existing = counts.get(key);
  if (existing === undefined || count > existing) counts.set(key, count);
}

/** Sums increments of the same series, so a batch writes each counter row once. */
export function mergeIncrements(increments: readonly CounterIncrement[]): CounterIncrement[] {
  const merged = new SeriesGroups<CounterIncrement>();
  for (const increment of increments) merged.find(increment.family, increment.labels, () => ({ ...increment, value: 0 })).value += increment.value;
  return merged.all;
}

/**
 * One entry per series (family and label set), in order of first appearance, found by family and
 * the label set's cached key: no key string is built per item.
 */
class SeriesGroups<Entry> {
  readonly all: Entry[] = [];
  private readonly families = new Map<string, Map<string, Entry>>();

  find(family: string, labels: LabelSet, create: () => Entry): Entry {
    let series = this.families.get(family);
    if (!series) this.families.set(family, (series = new Map<string, Entry>()));
    const key = cachedLabelKey(labels);
    let entry = series.get(key);
    if (entry === undefined) {
      entry = create();
      series.set(key, entry);
      this.all.push(entry);
    }
    return entry;
  }
}

/** Intake items carry their target (no `source`: intake is for Azure IDs only), '' when it is unknown. */
export function intakeIncrement(result: 'accepted' | 'duplicate' | 'rejected', target: string, value: number): CounterIncrement {
  return { family: metricNames.intakeNotifications, labels: intakeLabels(target, result), value };
}

/**
 * One label object per target and result, so a batch of a thousand items merges by cached key;
 * bounded (targets are configured names, or '' for unknown ones).
 */
const intakeLabelSets = new Map<string, LabelSet>();

function intakeLabels(target: string, result: string): LabelSet {
  const key = `${result}\u0000${target}`;
  let labels = intakeLabelSets.get(key);
  if (labels === undefined) {
    labels = { target, result };
    if (intakeLabelSets.size < 10_000) intakeLabelSets.set(key, labels);
  }
  return labels;
}

export function isoTime(milliseconds: number | null): string | null {
  return milliseconds === null ? null : new Date(milliseconds).toISOString();
}
