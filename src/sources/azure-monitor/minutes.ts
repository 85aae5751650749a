import { labelKey, type CounterIncrement } from '../../metrics/totals.js';
import { metricMeaning } from './metric-names.js';
import type { MetricSeries } from './metrics-answer.js';

/**
 * Which minutes a read asks for and which of them it counts: pure, so the exactly-once rule is
 * tested on its own. A minute of a metric counts once, when it ended at least `settleDelay` ago;
 * the cursor (the last minute counted, per metric) says where counting resumes.
 */
export const minuteMilliseconds = 60_000;
/** One request covers at most this many hours of minutes (360 points per metric)... */
export const windowMilliseconds = 6 * 3_600_000;
/** ...and a read of one batch of names follows at most this many windows in a row (24 h per round). */
export const maximumWindowsPerRound = 4;
/**
 * Never further back than this: Azure keeps platform metrics 93 days, so a cursor older than that
 * (an exporter stopped for months) would only ask for data that no longer exists.
 */
export const maximumHistoryMilliseconds = 90 * 86_400_000;

export interface WindowSettings {
  now: number;
  settleDelayMilliseconds: number;
  initialLookbackMilliseconds: number;
}

export interface ReadWindow {
  /** First minute asked for (inclusive) and the end of the timespan (exclusive), on minutes. */
  start: number;
  end: number;
  /** A minute counts when it ends at or before this (the end of the last settled minute in the window). */
  countBefore: number;
  /** Where each metric's counting resumes: after this minute. */
  counted: Map<string, number>;
  /** True when minutes that are already settled lie beyond this window (after an outage). */
  behind: boolean;
}

export function floorMinute(time: number): number {
  return Math.floor(time / minuteMilliseconds) * minuteMilliseconds;
}

/** The window a read of these metrics asks for, from their cursors. */
export function planWindow(names: readonly string[], cursors: ReadonlyMap<string, number>, settings: WindowSettings): ReadWindow {
  const { now } = settings;
  const settledEnd = floorMinute(now - settings.settleDelayMilliseconds);
  const oldest = floorMinute(now - maximumHistoryMilliseconds);
  // A metric never counted starts initialLookback ago: as if the minute before had been counted.
  const firstUncounted = floorMinute(now - settings.initialLookbackMilliseconds);
  const counted = new Map<string, number>();
  for (const name of names) counted.set(name, Math.max(cursors.get(name) ?? firstUncounted - minuteMilliseconds, oldest - minuteMilliseconds));
  const start = Math.min(...counted.values()) + minuteMilliseconds;
  // The timespan runs to the present, so late minutes and the newest level (scheduled.pending) are seen.
  const present = floorMinute(now) + minuteMilliseconds;
  const end = Math.min(present, start + windowMilliseconds);
  const countBefore = Math.min(settledEnd, end);
  return { start, end, countBefore, counted, behind: settledEnd > end };
}

export interface CountedRead {
  increments: CounterIncrement[];
  /** New cursors, only for metrics that moved. */
  cursors: Map<string, number>;
  /** Newest value per gauge family (a level, shown as it is). */
  levels: Map<string, number>;
  /** Metrics Azure reported an error for, or left out of the answer: their cursor stays. */
  unanswered: string[];
}

/**
 * Counts the settled minutes of an answer that were not counted before. A settled minute without
 * a total (or absent from the answer) is a minute with nothing in it; the cursor passes it.
 */
export function countSettledMinutes(window: ReadWindow, series: readonly MetricSeries[], target: string, source: string): CountedRead {
  const byName = new Map(series.map((item) => [item.name, item]));
  const totals = new Map<string, CounterIncrement>();
  const result: CountedRead = { increments: [], cursors: new Map(), levels: new Map(), unanswered: [] };
  for (const [name, after] of window.counted) {
    const item = byName.get(name);
    const meaning = metricMeaning(name);
    if (!item || 'error' in item || !meaning) {
      result.unanswered.push(name);
      continue;
    }
    if (meaning.kind === 'gauge') {
      const newest = item.points.filter((point) => point.total !== undefined).at(-1);
      if (newest) result.levels.set(meaning.family, newest.total as number);
    }
    const lastSettled = window.countBefore - minuteMilliseconds;
    if (lastSettled <= after) continue;
    result.cursors.set(name, lastSettled);
    if (meaning.kind !== 'counter') continue;
    let sum = 0;
    for (const point of item.points) {
      if (point.minute > after && point.minute <= lastSettled) sum += point.total ?? 0;
    }
    if (sum === 0) continue;
    const labels = { source, target, ...meaning.labels };
    const key = `${meaning.family}\u0000${labelKey(labels)}`;
    const existing = totals.get(key);
    if (existing) existing.value += sum;
    else totals.set(key, { family: meaning.family, labels, value: sum });
  }
  result.increments = [...totals.values()];
  return result;
}
