/**
 * The scripted life of one simulated message: 404 while telemetry is not ready, optionally Scheduled,
 * then Enqueued, Processing (counts grow linearly towards the final ones), and a final state.
 */
export type FinalState = 'Completed' | 'Abandoned' | 'NoTargetFound' | 'Canceled' | 'Processing';

export interface MessagePlan {
  /** 404 for this long after the message is created. */
  notReadyMilliseconds: number;
  scheduledMilliseconds?: number;
  enqueuedMilliseconds: number;
  processingMilliseconds: number;
  finalState: FinalState;
  /** Final counts by collection (`ApnsOutcomeCounts`, ...) then outcome name. */
  outcomes: Record<string, Record<string, number>>;
  /** Spell the canceled state as the .NET SDK does. */
  spellCancelled?: boolean;
  /**
   * Serve `<ApnsOutcomeCounts/>` (legal XML) for a platform with nothing counted yet: while
   * Scheduled or Enqueued, or Processing before the first count. Nothing shows that the service
   * sends empty collections, so only scenarios that ask for them get them; otherwise such a
   * platform has no collection yet.
   */
  emptyCollections?: boolean;
  /** Serve a PNS error-details blob for the failures, answering 404 for this long after the end. */
  errorDetails?: {
    notReadyMilliseconds: number;
    /** How the blob's bytes are encoded (pns-feedback-blob.ts); UTF-16LE with a BOM by default. */
    encoding?: PnsBlobEncoding;
    /** The blob's exact bytes instead of the records (a blob that is not what the service writes). */
    body?: string | Uint8Array;
  };
}

/** Every form a UTF-16 (or UTF-8) blob could plausibly take: the real byte order and BOM are not documented. */
export type PnsBlobEncoding = 'utf-16le-bom' | 'utf-16be-bom' | 'utf-16le' | 'utf-16be' | 'utf-8-bom' | 'utf-8';

export interface MessageSnapshot {
  state: 'NotReady' | 'Scheduled' | 'Enqueued' | 'Processing' | Exclude<FinalState, 'Processing'>;
  enqueueTime?: number;
  startTime?: number;
  endTime?: number;
  outcomes: Record<string, Record<string, number>>;
}

export function snapshotAt(plan: MessagePlan, createdAt: number, now: number): MessageSnapshot {
  const readyAt = createdAt + plan.notReadyMilliseconds;
  const enqueueAt = readyAt + (plan.scheduledMilliseconds ?? 0);
  const startAt = enqueueAt + plan.enqueuedMilliseconds;
  const endAt = startAt + plan.processingMilliseconds;
  const empty = emptyCollections(plan.outcomes);
  if (now < readyAt) return { state: 'NotReady', outcomes: {} };
  if (plan.scheduledMilliseconds !== undefined && now < enqueueAt) {
    if (plan.finalState === 'Canceled' && plan.enqueuedMilliseconds === 0) return { state: 'Canceled', outcomes: {} };
    return { state: 'Scheduled', enqueueTime: readyAt, outcomes: empty };
  }
  if (plan.finalState === 'Canceled') return { state: 'Canceled', enqueueTime: readyAt, outcomes: {} };
  if (now < startAt) return { state: 'Enqueued', enqueueTime: enqueueAt, outcomes: empty };
  if (now < endAt || plan.finalState === 'Processing') {
    const fraction = plan.processingMilliseconds === 0 ? 1 : Math.min(1, (now - startAt) / plan.processingMilliseconds);
    return { state: 'Processing', enqueueTime: enqueueAt, startTime: startAt, outcomes: scaled(plan.outcomes, fraction) };
  }
  return { state: plan.finalState, enqueueTime: enqueueAt, startTime: startAt, endTime: endAt, outcomes: plan.outcomes };
}

/** The final state a plan reaches and when, for tests that compare metrics with the simulator's truth. */
export function finishesAt(plan: MessagePlan, createdAt: number): number | undefined {
  if (plan.finalState === 'Processing') return undefined;
  return createdAt + plan.notReadyMilliseconds + (plan.scheduledMilliseconds ?? 0) + plan.enqueuedMilliseconds + plan.processingMilliseconds;
}

function scaled(outcomes: MessagePlan['outcomes'], fraction: number): MessagePlan['outcomes'] {
  return Object.fromEntries(
    Object.entries(outcomes).map(([collection, counts]) => [
      collection,
      Object.fromEntries(Object.entries(counts).map(([name, count]) => [name, Math.floor(count * fraction)])),
    ]),
  );
}

function emptyCollections(outcomes: MessagePlan['outcomes']): MessagePlan['outcomes'] {
  return Object.fromEntries(Object.keys(outcomes).map((collection) => [collection, {}]));
}
