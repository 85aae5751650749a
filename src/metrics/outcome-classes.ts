/**
 * Which outcomes are failures: everything but the successes and the neutral outcomes, so outcome
 * names Azure adds later count as failures. The same classification as the recording rules
 * (alerts/push-notification-recording-rules.yml) and README "Failure classification".
 */
const successOutcomes = new Set(['Success', 'Sent']);
const neutralOutcomes = new Set(['Skipped', 'NoTargets']);

export function isFailureOutcome(outcome: string): boolean {
  return !successOutcomes.has(outcome) && !neutralOutcomes.has(outcome);
}
