import { labelKey, type LabelSet } from './totals.js';

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
  private readonly exemplars = new Map<string, Exemplar>();

  set(family: string, labels: LabelSet, exemplar: Exemplar): void {
    // OpenMetrics caps an exemplar's label set at 128 characters; longer IDs get none.
    if (exemplar.notificationId.length > 100) return;
    this.exemplars.set(`${family}|${labelKey(labels)}`, exemplar);
  }

  get(family: string, labels: LabelSet): Exemplar | undefined {
    return this.exemplars.get(`${family}|${labelKey(labels)}`);
  }
}
