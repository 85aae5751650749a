import { describe, expect, it } from 'vitest';
import { clampedCursor, pageClock, RunClockFindings } from './clock-skew.js';
import type { ParsedItem } from './feedback.js';

const noon = Date.UTC(2026, 2, 1, 12, 0, 0);

function item(id: string, modifiedAt: number): ParsedItem {
  return { valid: true, notification: { id, modifiedAt, status: 'Sent', feedback: [] } };
}

describe('pageClock', () => {
  it('takes the earlier of the exporter clock and the server Date as the ceiling', () => {
    expect(pageClock({ requestedAt: noon, receivedAt: noon, serverDate: noon - 180_000 })).toMatchObject({ ceiling: noon - 180_000, reference: 'server_date', serverAheadMilliseconds: -180_000 });
    expect(pageClock({ requestedAt: noon, receivedAt: noon, serverDate: noon + 180_000 })).toMatchObject({ ceiling: noon, reference: 'exporter_clock', serverAheadMilliseconds: 180_000 });
    expect(pageClock({ requestedAt: noon, receivedAt: noon, serverDate: undefined })).toMatchObject({ ceiling: noon, reference: 'exporter_clock', serverAheadMilliseconds: undefined });
  });

  it("does not call an item modified during the request, or within Date's one-second resolution, future-dated", () => {
    // Asked at 12:00:00.900, answered at 12:00:03.900 with Date 12:00:03.
    const clock = pageClock({ requestedAt: noon + 900, receivedAt: noon + 3_900, serverDate: noon + 3_000 });
    expect(clock.ceiling).toBe(noon + 900);
    const findings = new RunClockFindings();
    findings.addPage([item('during-the-request', noon + 3_800)], clock);
    expect(findings.futureDated).toBeUndefined();
    findings.addPage([item('ahead', noon + 60_000)], clock);
    expect(findings.futureDated).toMatchObject({ items: 1, notificationId: 'ahead', aheadMilliseconds: 60_000 - 900 });
  });
});

describe('clampedCursor', () => {
  it('follows the last ModifiedAt up to the ceiling, never past it', () => {
    const clock = pageClock({ requestedAt: noon, receivedAt: noon, serverDate: undefined });
    expect(clampedCursor(noon - 5_000, clock)).toBe(noon - 5_000);
    expect(clampedCursor(noon + 180_000, clock)).toBe(noon);
    expect(clampedCursor(undefined, clock)).toBeUndefined();
  });
});

describe('RunClockFindings', () => {
  it('keeps one finding per run: how many items were ahead and the furthest one', () => {
    const findings = new RunClockFindings();
    const first = pageClock({ requestedAt: noon, receivedAt: noon, serverDate: noon });
    findings.addPage([item('now', noon), item('two-minutes', noon + 120_000)], first);
    findings.addPage([item('three-minutes', noon + 180_000), item('one-minute', noon + 60_000)], first);
    findings.addPage([{ valid: false, reason: 'invalid_count', id: 'bad', modifiedAt: noon + 30_000, detail: 'x' }], first);
    expect(findings.futureDated).toEqual({ items: 4, aheadMilliseconds: 180_000, notificationId: 'three-minutes', modifiedAt: noon + 180_000, reference: 'server_date' });
  });

  it('notes a server clock more than a minute from the exporter clock, the first time in the run', () => {
    const findings = new RunClockFindings();
    findings.addPage([], pageClock({ requestedAt: noon, receivedAt: noon, serverDate: noon - 59_000 }));
    expect(findings.serverAheadMilliseconds).toBeUndefined();
    findings.addPage([], pageClock({ requestedAt: noon, receivedAt: noon, serverDate: noon + 61_000 }));
    findings.addPage([], pageClock({ requestedAt: noon, receivedAt: noon, serverDate: noon - 300_000 }));
    expect(findings.serverAheadMilliseconds).toBe(61_000);
  });
});
