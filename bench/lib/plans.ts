import { parseConfig } from '../../src/config/load.js';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';

export const benchNamespace = 'contoso-bench';
export const benchKeyName = 'DefaultListenSharedAccessSignature';
export const benchHubKey = 'YmVuY2gta2V5LW5vdC1hLXNlY3JldA==';
export const intakeToken = 'bench-intake-token-0123456789';

export type PlanKind = 'ready-terminal' | 'label-space';

export interface Truth {
  messages: number;
  /** Sum of every outcome count an exact exporter must end up with. */
  outcomes: number;
  finalStates: Record<string, number>;
}

/** The outcome collections seen in the wild (design.md), 10 platforms. */
export const allCollections = [
  'ApnsOutcomeCounts', 'MpnsOutcomeCounts', 'WnsOutcomeCounts', 'GcmOutcomeCounts', 'FcmOutcomeCounts',
  'FcmV1OutcomeCounts', 'AdmOutcomeCounts', 'BaiduOutcomeCounts', 'BrowserOutcomeCounts', 'XiaomiOutcomeCounts',
];

/** One message that fills a target's label space: every platform with 70 distinct outcome names (64 kept, the rest Other). */
export function labelSpacePlan(): MessagePlan {
  const counts = Object.fromEntries(Array.from({ length: 70 }, (_, index) => [`Outcome${String(index).padStart(2, '0')}`, 1]));
  return {
    notReadyMilliseconds: 0,
    enqueuedMilliseconds: 0,
    processingMilliseconds: 0,
    finalState: 'Completed',
    outcomes: Object.fromEntries(allCollections.map((collection) => [collection, { ...counts }])),
  };
}

export function connectionString(endpointHost: string): string {
  return `Endpoint=sb://${endpointHost}/;SharedAccessKeyName=${benchKeyName};SharedAccessKey=${benchHubKey}`;
}

let rateLimitKnown: boolean | undefined;

/**
 * The exporter's `server` settings for the benchmarks: on 127.0.0.1, the bench token, and the
 * per-client intake rate limit off where this version has one (the load comes from one address).
 */
export function benchServerSettings(): Record<string, unknown> {
  rateLimitKnown ??= (() => {
    try {
      parseConfig(JSON.stringify({ server: { intakeRateLimit: { requestsPerSecond: 0 } } }));
      return true;
    } catch {
      return false;
    }
  })();
  return {
    listen: '127.0.0.1:0',
    apiTokens: [intakeToken],
    ...(rateLimitKnown ? { intakeRateLimit: { requestsPerSecond: 0 } } : {}),
  };
}
