import { platformLabel } from '../../metrics/labels.js';
import { sourceLabels } from '../../metrics/names.js';
import type { LabelSet } from '../../metrics/totals.js';

/** Raw platform (collection) names remembered per hub; the known ones are ten. */
const rawPlatformLimit = 64;

/**
 * One label-set object per series of a hub, handed out again for every answer that counts into
 * it: the poll path then allocates no label objects per message, and whatever keys series by their
 * label-set object (exemplars, merged increments) computes each key once. Bounded by the series
 * the label caps allow (platforms × outcome names per target, a few states and reasons).
 */
export class SeriesLabels {
  private readonly sets = new Map<string, LabelSet>();
  private readonly outcomes = new Map<string, Map<string, LabelSet>>();
  readonly hub: LabelSet;

  constructor(readonly target: string) {
    this.hub = { source: sourceLabels.azureNotificationHubs, target };
  }

  /** `outcome` is the name as the labeler capped it; `platform` the collection as the hub names it. */
  outcome(platform: string, outcome: string): LabelSet {
    // Raw platform name, then outcome: two lookups of strings the parser already hashed, no key
    // built per count (this runs for every count of every answer). Several raw names may share one
    // label (unknown names all map to one): their label sets are equal objects, which is all
    // callers need.
    let byOutcome = this.outcomes.get(platform);
    // Raw names come from the upstream's documents: remembered only up to a bound.
    if (!byOutcome && this.outcomes.size < rawPlatformLimit) this.outcomes.set(platform, (byOutcome = new Map<string, LabelSet>()));
    let labels = byOutcome?.get(outcome);
    if (labels === undefined) {
      const label = platformLabel(platform);
      labels = this.intern(`o\u0000${label}\u0000${outcome}`, () => ({ ...this.hub, platform: label, outcome }));
      byOutcome?.set(outcome, labels);
    }
    return labels;
  }

  state(state: string): LabelSet {
    return this.intern(`s\u0000${state}`, () => ({ ...this.hub, state }));
  }

  reason(reason: string): LabelSet {
    return this.intern(`r\u0000${reason}`, () => ({ ...this.hub, reason }));
  }

  /** A histogram bucket's series, for its exemplar (`le` as OpenMetrics writes it). */
  bucket(family: string, le: string): LabelSet {
    return this.intern(`b\u0000${family}\u0000${le}`, () => ({ ...this.hub, le }));
  }

  private intern(key: string, make: () => LabelSet): LabelSet {
    let labels = this.sets.get(key);
    if (labels === undefined) this.sets.set(key, (labels = make()));
    return labels;
  }
}
