/**
 * In-memory mirror of the durable counter and histogram totals kept by the tracking store.
 * The store changes it only after the SQLite transaction that persists the same change has
 * committed, so a scrape never shows a count that a crash could take back.
 */
export type LabelSet = Readonly<Record<string, string>>;

export interface CounterIncrement {
  family: string;
  labels: LabelSet;
  value: number;
}

export interface HistogramObservation {
  family: string;
  labels: LabelSet;
  value: number;
}

export interface CounterSeries {
  labels: LabelSet;
  value: number;
}

export interface HistogramSeries {
  labels: LabelSet;
  /** Upper bounds, ascending, without +Inf. */
  bounds: readonly number[];
  /** Non-cumulative counts per bound, plus one for +Inf at the end. */
  bucketCounts: number[];
  sum: number;
  count: number;
}

/** A stable key for a label set: sorted `name=value` pairs. */
export function labelKey(labels: LabelSet): string {
  return JSON.stringify(Object.keys(labels).sort().map((name) => [name, labels[name]]));
}

/**
 * labelKey() once per label-set object: the poll path hands in the same (interned) objects for
 * every answer, so their keys are computed once. Label sets are never changed after creation.
 */
const keysByLabelSet = new WeakMap<LabelSet, string>();

export function cachedLabelKey(labels: LabelSet): string {
  let key = keysByLabelSet.get(labels);
  if (key === undefined) keysByLabelSet.set(labels, (key = labelKey(labels)));
  return key;
}

/** The label set a `labelKey` was made from. */
export function parseLabelKey(key: string): LabelSet {
  return Object.fromEntries(JSON.parse(key) as [string, string][]);
}

/**
 * A number per family that changes whenever the family's series do (scrapes reuse the text they
 * rendered for a family until it moves: see scrape-renderer.ts). Every change in the totals goes
 * through the methods below, so bumping there cannot miss one.
 */
class ChangeVersions {
  private tick = 0;
  private clearedAt = 0;
  private readonly changedAt = new Map<string, number>();

  changed(family: string): void {
    this.changedAt.set(family, ++this.tick);
  }

  /** Every family moves, including those that had no series before. */
  cleared(): void {
    this.clearedAt = ++this.tick;
    this.changedAt.clear();
  }

  version(family: string): number {
    return Math.max(this.changedAt.get(family) ?? 0, this.clearedAt);
  }
}

export class CounterTotals {
  private readonly families = new Map<string, Map<string, CounterSeries>>();
  private readonly versions = new ChangeVersions();

  /** Forgets every series (before the store loads the durable totals again). */
  clear(): void {
    this.families.clear();
    this.versions.cleared();
  }

  /** Changes whenever a series of the family is added to (even by 0: a new series shows as 0). */
  version(family: string): number {
    return this.versions.version(family);
  }

  add(family: string, labels: LabelSet, value: number): void {
    this.versions.changed(family);
    let series = this.families.get(family);
    if (!series) this.families.set(family, (series = new Map<string, CounterSeries>()));
    const key = cachedLabelKey(labels);
    const existing = series.get(key);
    if (existing) existing.value += value;
    else series.set(key, { labels: { ...labels }, value });
  }

  get(family: string, labels: LabelSet): number {
    return this.families.get(family)?.get(labelKey(labels))?.value ?? 0;
  }

  series(family: string): Iterable<CounterSeries> {
    return this.families.get(family)?.values() ?? [];
  }
}

export class HistogramTotals {
  private readonly families = new Map<string, Map<string, HistogramSeries>>();

  private readonly versions = new ChangeVersions();

  constructor(private readonly boundsByFamily: ReadonlyMap<string, readonly number[]>) {}

  clear(): void {
    this.families.clear();
    this.versions.cleared();
  }

  /** Changes whenever a series of the family is observed or replaced. */
  version(family: string): number {
    return this.versions.version(family);
  }

  bounds(family: string): readonly number[] {
    const bounds = this.boundsByFamily.get(family);
    if (!bounds) throw new Error(`no buckets defined for histogram ${family}`);
    return bounds;
  }

  /** Returns the series after the observation, for the store to persist. */
  observe(family: string, labels: LabelSet, value: number): HistogramSeries {
    this.versions.changed(family);
    const series = this.seriesFor(family, labels);
    const index = series.bounds.findIndex((bound) => value <= bound);
    series.bucketCounts[index === -1 ? series.bounds.length : index]! += 1;
    series.sum += value;
    series.count += 1;
    return series;
  }

  /** What the series would be after these observations, without changing anything. */
  preview(family: string, labels: LabelSet, values: readonly number[]): HistogramSeries {
    const current = this.families.get(family)?.get(cachedLabelKey(labels));
    const copy: HistogramSeries = current
      ? { ...current, bucketCounts: [...current.bucketCounts] }
      : this.emptySeries(family, labels);
    for (const value of values) {
      const index = copy.bounds.findIndex((bound) => value <= bound);
      copy.bucketCounts[index === -1 ? copy.bounds.length : index]! += 1;
      copy.sum += value;
      copy.count += 1;
    }
    return copy;
  }

  replace(family: string, series: HistogramSeries): void {
    this.versions.changed(family);
    let familySeries = this.families.get(family);
    if (!familySeries) this.families.set(family, (familySeries = new Map<string, HistogramSeries>()));
    familySeries.set(labelKey(series.labels), series);
  }

  series(family: string): Iterable<HistogramSeries> {
    return this.families.get(family)?.values() ?? [];
  }

  private seriesFor(family: string, labels: LabelSet): HistogramSeries {
    let familySeries = this.families.get(family);
    if (!familySeries) this.families.set(family, (familySeries = new Map<string, HistogramSeries>()));
    const key = labelKey(labels);
    let series = familySeries.get(key);
    if (!series) familySeries.set(key, (series = this.emptySeries(family, labels)));
    return series;
  }

  private emptySeries(family: string, labels: LabelSet): HistogramSeries {
    const bounds = this.bounds(family);
    return { labels: { ...labels }, bounds, bucketCounts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 };
  }
}
