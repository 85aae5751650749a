/**
 * Label values must stay bounded: upstream outcome names are an open set, so each target admits a
 * limited number of distinct names and maps the rest to `Other`.
 */
export const maximumOutcomeNamesPerTarget = 64;
export const otherOutcome = 'Other';

const plainIdentifier = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const platformPattern = /^[a-z0-9_]{1,32}$/;

export function platformLabel(platform: string): string {
  return platformPattern.test(platform) ? platform : 'other';
}

export class OutcomeLabeler {
  private readonly namesByTarget = new Map<string, Set<string>>();

  /** Registers names already counted (loaded from the store), so the mapping survives restarts. */
  remember(target: string, outcome: string): void {
    if (outcome === otherOutcome) return;
    this.namesFor(target).add(outcome);
  }

  labelFor(target: string, outcome: string): string {
    const names = this.namesFor(target);
    if (names.has(outcome)) return outcome;
    if (!plainIdentifier.test(outcome) || outcome === otherOutcome) return otherOutcome;
    if (names.size >= maximumOutcomeNamesPerTarget) return otherOutcome;
    names.add(outcome);
    return outcome;
  }

  private namesFor(target: string): Set<string> {
    let names = this.namesByTarget.get(target);
    if (!names) this.namesByTarget.set(target, (names = new Set()));
    return names;
  }
}
