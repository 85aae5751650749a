/**
 * Label values must stay bounded. Upstream outcome names and Everlive statuses are open sets, so
 * each target admits a limited number of distinct values and maps the rest to `Other`.
 */
export const otherLabelValue = 'Other';

const plainIdentifier = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const statusPattern = /^[A-Za-z0-9_]{1,32}$/;
const platformPattern = /^[a-z0-9_]{1,32}$/;

export function platformLabel(platform: string): string {
  return platformPattern.test(platform) ? platform : 'other';
}

/** Admits up to `limit` distinct values per target that match `pattern`; everything else is `Other`. */
export class BoundedLabelValues {
  private readonly valuesByTarget = new Map<string, Set<string>>();

  constructor(
    private readonly limit: number,
    private readonly pattern: RegExp,
  ) {}

  /** Registers a value already counted (loaded from the store), so the mapping survives restarts. */
  remember(target: string, value: string): void {
    if (value !== otherLabelValue) this.valuesFor(target).add(value);
  }

  labelFor(target: string, value: string): string {
    const values = this.valuesFor(target);
    if (values.has(value)) return value;
    if (!this.pattern.test(value) || value === otherLabelValue || values.size >= this.limit) return otherLabelValue;
    values.add(value);
    return value;
  }

  private valuesFor(target: string): Set<string> {
    let values = this.valuesByTarget.get(target);
    if (!values) this.valuesByTarget.set(target, (values = new Set()));
    return values;
  }
}

/** Azure outcome names: the upstream name verbatim while a target has fewer than 64 distinct names. */
export class OutcomeLabeler extends BoundedLabelValues {
  constructor() {
    super(64, plainIdentifier);
  }
}

/** Everlive `Status` values (opaque upstream): up to 16 distinct per target. */
export class StatusLabeler extends BoundedLabelValues {
  constructor() {
    super(16, statusPattern);
  }
}
