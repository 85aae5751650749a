/**
 * The per-minute platform metrics of simulated hubs: what Azure Monitor would have counted. A
 * minute's final total is known once it ends; the API shows it only after a delay (late minutes,
 * first without a total, then optionally a partial one), as the real service does.
 */
const minuteMilliseconds = 60_000;

/** Per-service outcome metrics the simulated hubs define (the real list is on Microsoft's "supported metrics" page). */
export const simulatedOutcomes: Readonly<Record<string, readonly string[]>> = {
  apns: ['success', 'invalidcredentials', 'badchannel', 'expiredchannel', 'wrongtoken', 'invalidnotificationsize', 'pnserror'],
  fcmv1: ['success', 'invalidcredentials', 'badchannel', 'expiredchannel', 'wrongchannel', 'throttled', 'invalidnotificationformat', 'invalidnotificationsize', 'pnserror'],
  gcm: ['success', 'authenticationerror', 'badchannel', 'expiredchannel', 'invalidcredentials', 'invalidnotificationformat', 'invalidnotificationsize', 'pnserror', 'throttled', 'wrongchannel'],
  mpns: ['success', 'authenticationerror', 'badchannel', 'channeldisconnected', 'dropped', 'invalidcredentials', 'invalidnotificationformat', 'pnserror', 'throttled'],
  wns: ['success', 'authenticationerror', 'badchannel', 'channeldisconnected', 'channelthrottled', 'dropped', 'expiredchannel', 'invalidcredentials', 'invalidnotificationformat', 'invalidnotificationsize', 'invalidtoken', 'pnserror', 'throttled', 'tokenproviderunreachable', 'wrongtoken'],
};

export const simulatedMetricNames: readonly string[] = [
  'incoming',
  'incoming.all.requests',
  'incoming.all.failedrequests',
  'incoming.scheduled',
  'incoming.scheduled.cancel',
  'installation.all',
  'notificationhub.pushes',
  'registration.all',
  'scheduled.pending',
  ...['success', 'badorexpiredchannel', 'channelerror', 'invalidpayload', 'pnserror'].map((result) => `outgoing.allpns.${result}`),
  ...Object.entries(simulatedOutcomes).flatMap(([service, outcomes]) => outcomes.map((outcome) => `outgoing.${service}.${outcome}`)),
];

/** Which allpns aggregate a per-service outcome falls in (a guess where Microsoft does not say). */
function aggregateOf(outcome: string): string {
  if (outcome === 'success') return 'success';
  if (['badchannel', 'expiredchannel', 'wrongchannel', 'wrongtoken', 'invalidtoken'].includes(outcome)) return 'badorexpiredchannel';
  if (['invalidnotificationsize', 'invalidnotificationformat'].includes(outcome)) return 'invalidpayload';
  if (['channeldisconnected', 'channelthrottled', 'dropped', 'throttled'].includes(outcome)) return 'channelerror';
  return 'pnserror';
}

/** The per-service metric of a per-message outcome name (`ApnsOutcomeCounts`, `WrongToken`), if Azure Monitor has one. */
export function monitorMetricOf(collection: string, outcome: string): string | undefined {
  const service = collection.replace(/OutcomeCounts$/, '').toLowerCase();
  const outcomes = simulatedOutcomes[service];
  if (!outcomes) return undefined;
  const lower = /^Pns(ServerError|InterfaceError|Unavailable|Unreachable)$/.test(outcome) ? 'pnserror' : outcome.toLowerCase();
  return outcomes.includes(lower) ? `outgoing.${service}.${lower}` : undefined;
}

export interface Visibility {
  /** After a minute ends, how long it has no total at all. */
  noTotalMilliseconds: number;
  /** Then how long it shows a partial total (half, rounded down) before the final one. */
  partialMilliseconds: number;
}

export class HubMetrics {
  /** resourceId (lower case) → metric → minute start → final total. */
  private readonly minutes = new Map<string, Map<string, Map<number, number>>>();
  private readonly pending = new Map<string, number>();

  constructor(readonly resourceIds: readonly string[]) {
    for (const id of resourceIds) this.minutes.set(id.toLowerCase(), new Map());
  }

  has(resourceId: string): boolean {
    return this.minutes.has(resourceId.toLowerCase());
  }

  add(resourceId: string, metric: string, count: number, at: number): void {
    const hub = this.hub(resourceId);
    const series = hub.get(metric) ?? new Map<number, number>();
    hub.set(metric, series);
    const minute = Math.floor(at / minuteMilliseconds) * minuteMilliseconds;
    series.set(minute, (series.get(minute) ?? 0) + count);
  }

  /** One push to one service: its per-service outcome, the allpns aggregate and notificationhub.pushes. */
  addPush(resourceId: string, service: string, outcome: string, count: number, at: number): void {
    this.add(resourceId, `outgoing.${service}.${outcome}`, count, at);
    this.add(resourceId, `outgoing.allpns.${aggregateOf(outcome)}`, count, at);
    this.add(resourceId, 'notificationhub.pushes', count, at);
  }

  setPending(resourceId: string, count: number): void {
    this.pending.set(resourceId.toLowerCase(), count);
  }

  /** What the API shows for a minute at `now`: nothing yet, a partial total, or the final one. */
  shownTotal(resourceId: string, metric: string, minute: number, now: number, visibility: Visibility): number | undefined {
    const age = now - (minute + minuteMilliseconds);
    if (metric === 'scheduled.pending') return age >= visibility.noTotalMilliseconds ? (this.pending.get(resourceId.toLowerCase()) ?? 0) : undefined;
    const final = this.hub(resourceId).get(metric)?.get(minute) ?? 0;
    if (age < visibility.noTotalMilliseconds) return undefined;
    if (age < visibility.noTotalMilliseconds + visibility.partialMilliseconds) return Math.floor(final / 2);
    return final;
  }

  /** The sum of the final totals of the minutes that ended at or before `before` (what an exact reader counts). */
  settledTotal(resourceId: string, metric: string, before: number): number {
    let sum = 0;
    for (const [minute, total] of this.hub(resourceId).get(metric) ?? []) if (minute + minuteMilliseconds <= before) sum += total;
    return sum;
  }

  private hub(resourceId: string): Map<string, Map<number, number>> {
    const hub = this.minutes.get(resourceId.toLowerCase());
    if (!hub) throw new Error(`unknown simulated hub ${resourceId}`);
    return hub;
  }
}
