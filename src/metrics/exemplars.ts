import type { LabelSet } from './totals.js';

export interface Exemplar {
  notificationId: string;
  value: number;
  /** Unix seconds. */
  timestamp: number;
}

/**
 * The most recent contributing notification per series (and per histogram bucket), shown as an
 * OpenMetrics exemplar so a dashboard can jump from a spike to one concrete notification. In memory
 * only: an exemplar is a pointer for a person, not a count.
 */
export class ExemplarStore {
  /** By family, then by label set: a family without exemplars costs a scrape nothing per sample. */
  private readonly exemplars = new Map<string, Map<string, Exemplar>>();
  /** Bumped per family on every set: an OpenMetrics scrape reuses a family's text until it moves. */
  private readonly versions = new Map<string, number>();
  private tick = 0;

  set(family: string, labels: LabelSet, exemplar: Exemplar): void {
    // OpenMetrics caps an exemplar's label set at 128 characters; longer IDs get none.
    if (exemplar.notificationId.length > 100) return;
    this.versions.set(family, ++this.tick);
    let series = this.exemplars.get(family);
    if (!series) this.exemplars.set(family, (series = new Map<string, Exemplar>()));
    series.set(exemplarKey(labels), exemplar);
  }

  /** Label values may be numbers (a histogram's `le`): they match their string form. */
  get(family: string, labels: Readonly<Record<string, string | number>>): Exemplar | undefined {
    const series = this.exemplars.get(family);
    return series?.get(exemplarKey(labels));
  }

  /** Changes whenever an exemplar of the family is set (a histogram's family is `NAME_bucket`). */
  version(family: string): number {
    return this.versions.get(family) ?? 0;
  }
}

/** Keys by label-set object: a scrape asks again for the same (never changed) label sets. */
const keys = new WeakMap<object, string>();

/** An order-independent key for a label set; cheaper than labelKey, which scrapes would pay per sample. */
function exemplarKey(labels: Readonly<Record<string, string | number>>): string {
  let key = keys.get(labels);
  if (key === undefined) keys.set(labels, (key = buildExemplarKey(labels)));
  return key;
}

function buildExemplarKey(labels: Readonly<Record<string, string | number>>): string {
  let key = '';
  for (const name of Object.keys(labels).sort()) key += `${name}\u0000${String(labels[name])}\u0001`;
  return key;
}
