import type { ParsedItem } from './feedback.js';

/**
 * How far the cursor may move after a page, and which notifications are dated in the future.
 *
 * The cursor promises "every notification modified before this instant has been read". A
 * notification whose ModifiedAt is ahead of the other writers' clocks must not move it there, or
 * what they write until that instant (minus the overlap) is never read. So the cursor stops at the
 * present, taken as the earlier of two clocks: the exporter's when it sent the request, and the
 * server's `Date` header when there is one (https://www.rfc-editor.org/rfc/rfc9110#section-6.6.1).
 * The earlier, because each guards against the other being ahead: the server's clock is the one
 * nearest the writers' (Everlive stamps ModifiedAt itself, a system field), and the exporter's guards
 * against a server whose Date is ahead. A cursor held too early costs only re-reading (counting is
 * by growth, so nothing counts twice); a cursor too late loses data.
 *
 * Within a run, paging still continues after the last item read, future-dated or not: the clamp is
 * only on where the next run starts.
 */
export type ClockReference = 'server_date' | 'exporter_clock';

export interface PageClock {
  /** The cursor never moves past this instant. */
  ceiling: number;
  /** Which clock gave the ceiling. */
  reference: ClockReference;
  /** A ModifiedAt later than this is dated in the future. */
  futureAfter: number;
  /** The server's Date minus the exporter's clock when the answer arrived, when there was a Date. */
  serverAheadMilliseconds: number | undefined;
}

/**
 * Beyond the request's own duration: `Date` has one-second resolution (so it is up to 1 s early)
 * and clocks that agree still jitter. Only the warning uses it; the ceiling has no tolerance.
 */
const futureToleranceMilliseconds = 2_000;

/** The server's clock and the exporter's differing by more than this is worth a warning. */
export const clockDisagreementMilliseconds = 60_000;

export function pageClock(input: { requestedAt: number; receivedAt: number; serverDate: number | undefined }): PageClock {
  const { requestedAt, receivedAt, serverDate } = input;
  const serverIsEarlier = serverDate !== undefined && serverDate <= requestedAt;
  const ceiling = serverIsEarlier ? serverDate : requestedAt;
  return {
    ceiling,
    reference: serverIsEarlier ? 'server_date' : 'exporter_clock',
    futureAfter: ceiling + Math.max(0, receivedAt - requestedAt) + futureToleranceMilliseconds,
    serverAheadMilliseconds: serverDate === undefined ? undefined : serverDate - receivedAt,
  };
}

/** The cursor a page leaves: its last ModifiedAt, but never past the present. */
export function clampedCursor(lastModifiedAt: number | undefined, clock: PageClock): number | undefined {
  return lastModifiedAt === undefined ? undefined : Math.min(lastModifiedAt, clock.ceiling);
}

export interface FutureDated {
  /** Items read in the run that were dated in the future. */
  items: number;
  /** The furthest ahead, measured from the ceiling. */
  aheadMilliseconds: number;
  notificationId: string | undefined;
  modifiedAt: number;
  reference: ClockReference;
}

/** What one run saw of clocks, for at most one warning of each kind at its end (not one per item). */
export class RunClockFindings {
  private futureItems = 0;
  private furthest: Omit<FutureDated, 'items'> | undefined;
  private disagreement: number | undefined;

  addPage(items: readonly ParsedItem[], clock: PageClock): void {
    const serverAhead = clock.serverAheadMilliseconds;
    if (serverAhead !== undefined && Math.abs(serverAhead) > clockDisagreementMilliseconds) this.disagreement ??= serverAhead;
    for (const item of items) {
      const modifiedAt = item.valid ? item.notification.modifiedAt : item.modifiedAt;
      if (modifiedAt === undefined || modifiedAt <= clock.futureAfter) continue;
      this.futureItems += 1;
      const aheadMilliseconds = modifiedAt - clock.ceiling;
      if (this.furthest && this.furthest.aheadMilliseconds >= aheadMilliseconds) continue;
      const notificationId = item.valid ? item.notification.id : item.id;
      this.furthest = { aheadMilliseconds, notificationId, modifiedAt, reference: clock.reference };
    }
  }

  get futureDated(): FutureDated | undefined {
    return this.furthest && { items: this.futureItems, ...this.furthest };
  }

  /** The server's Date minus the exporter's clock, when they differed by more than a minute. */
  get serverAheadMilliseconds(): number | undefined {
    return this.disagreement;
  }
}
