/**
 * Message states of Azure Notification Hubs per-message telemetry.
 * https://learn.microsoft.com/rest/api/notificationhubs/get-notification-message-telemetry
 */
export const notificationStates = [
  'Abandoned',
  'Canceled',
  'Completed',
  'Enqueued',
  'NoTargetFound',
  'Processing',
  'Scheduled',
  'Unknown',
] as const;

export type NotificationState = (typeof notificationStates)[number];

export const terminalStates: ReadonlySet<NotificationState> = new Set([
  'Completed',
  'Abandoned',
  'NoTargetFound',
  'Canceled',
]);

const statesByLowerCaseName = new Map<string, NotificationState>(
  notificationStates.map((state) => [state.toLowerCase(), state]),
);
// The .NET and JavaScript SDKs spell it "Cancelled"; the REST reference spells it "Canceled".
statesByLowerCaseName.set('cancelled', 'Canceled');

/** Maps an upstream state name to a known state; anything unrecognised is `Unknown`. */
export function normaliseState(reported: string): NotificationState {
  return statesByLowerCaseName.get(reported.trim().toLowerCase()) ?? 'Unknown';
}

export function isTerminal(state: NotificationState): boolean {
  return terminalStates.has(state);
}
