const unitMilliseconds: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const durationPattern = /^(?:\d+(?:ms|s|m|h|d))+$/;
const partPattern = /(\d+)(ms|s|m|h|d)/g;

/**
 * Parses Prometheus-style durations: `500ms`, `10s`, `30m`, `2h`, `7d`, or combined such as `1h30m`.
 * Returns milliseconds, or undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  if (!durationPattern.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(partPattern)) {
    total += Number(amount) * (unitMilliseconds[unit as string] ?? Number.NaN);
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

export function formatDuration(milliseconds: number): string {
  if (milliseconds % 3_600_000 === 0) return `${milliseconds / 3_600_000}h`;
  if (milliseconds % 60_000 === 0) return `${milliseconds / 60_000}m`;
  if (milliseconds % 1_000 === 0) return `${milliseconds / 1_000}s`;
  return `${milliseconds}ms`;
}
