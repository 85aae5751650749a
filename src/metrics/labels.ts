import { canonicalOutcome, isKnownOutcome } from './outcome-classes.js';

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

/**
 * Azure outcome names: a known name always in its canonical spelling (a fixed set, so it needs no
 * slot: `InvalidCredentials` is never hidden in `Other`, which its alert relies on); any other name
 * verbatim while a target has fewer than 64 distinct ones.
 */
export class OutcomeLabeler extends BoundedLabelValues {
  constructor() {
    super(64, plainIdentifier);
  }

  /**
   * Series counted under another spelling of a known name (by a version that did not fold case)
   * stay in the state file as they are, but that spelling is never labelled again: no slot for it.
   */
  override remember(target: string, value: string): void {
    if (isKnownOutcome(canonicalOutcome(value))) return;
    super.remember(target, value);
  }

  override labelFor(target: string, value: string): string {
    const canonical = canonicalOutcome(value);
    return isKnownOutcome(canonical) ? canonical : super.labelFor(target, canonical);
  }
}

/** Everlive `Status` values (opaque upstream): up to 16 distinct per target. */
export class StatusLabeler extends BoundedLabelValues {
  constructor() {
    super(16, statusPattern);
  }
}
