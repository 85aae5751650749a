import { platformName } from '../../src/sources/everlive/feedback.js';
import type { Harness } from './harness.js';
import { groupBy } from './prometheus-text.js';

/** The Everlive app's `target` label in the harness configuration. */
export const everliveTarget = 'legacy-app';

/** The simulator's truth with platform numbers turned into the exporter's platform labels. */
export function expectedOutcomes(harness: Harness, isValid?: (document: Record<string, unknown>) => boolean): Map<string, number> {
  const truth = new Map<string, number>();
  for (const [key, value] of harness.everliveSimulator.truth(isValid)) {
    const [platformKey, outcome] = key.split('/') as [string, string];
    truth.set(`${platformName(platformKey)}/${outcome}`, value);
  }
  return truth;
}

/** The exporter's Everlive outcome counters, by `platform/outcome`. */
export async function outcomes(harness: Harness): Promise<Map<string, number>> {
  return groupBy(await harness.scrape(), 'push_notification_outcomes_total', ['platform', 'outcome'], { source: 'everlive', target: everliveTarget });
}

/** Notifications served by list requests since `from` (the fake's own request log). */
export function servedSince(harness: Harness, from: number): number {
  return harness.everliveSimulator.requests.slice(from).reduce((total, request) => total + request.served, 0);
}
