/**
 * Pure parsers of the ARM metrics API's answers (fetching is in client.ts):
 * GET {resourceId}/providers/Microsoft.Insights/metrics answers
 *   {"timespan", "interval", "value": [{"name": {"value"}, "unit", "errorCode"?,
 *     "timeseries": [{"metadatavalues": [], "data": [{"timeStamp", "total"?}]}]}]}
 * https://learn.microsoft.com/rest/api/monitor/metrics/list
 * and GET …/providers/Microsoft.Insights/metricDefinitions answers {"value": [{"name": {"value"}}]}.
 */

export interface MinutePoint {
  /** Start of the minute, epoch milliseconds. */
  minute: number;
  /** Absent while Azure has no value for the minute yet (the newest minutes arrive late). */
  total: number | undefined;
}

export type MetricSeries =
  | { name: string; points: MinutePoint[] }
  /** Azure reported an error for this metric alone (`errorCode` other than Success): nothing to count. */
  | { name: string; error: string };

export class MetricsAnswerError extends Error {
  override name = 'MetricsAnswerError';
}

const minuteMilliseconds = 60_000;

export function parseMetricsAnswer(body: unknown): MetricSeries[] {
  const value = field(body, 'value');
  if (!Array.isArray(value)) throw new MetricsAnswerError(errorHint(body) ?? 'answer has no "value" array');
  return value.map((item, index) => parseMetric(item, index));
}

function parseMetric(item: unknown, index: number): MetricSeries {
  const name = field(field(item, 'name'), 'value');
  if (typeof name !== 'string' || name === '') throw new MetricsAnswerError(`value[${index}] has no name.value`);
  const errorCode = field(item, 'errorCode');
  if (typeof errorCode === 'string' && errorCode !== '' && errorCode.toLowerCase() !== 'success') {
    return { name, error: printable(errorCode) };
  }
  const timeseries = field(item, 'timeseries') ?? [];
  if (!Array.isArray(timeseries)) throw new MetricsAnswerError(`${name}: "timeseries" is not an array`);
  // No dimensions are defined for these metrics, so one series is expected; several are summed.
  const byMinute = new Map<number, number | undefined>();
  for (const series of timeseries) {
    const data = field(series, 'data') ?? [];
    if (!Array.isArray(data)) throw new MetricsAnswerError(`${name}: "data" is not an array`);
    for (const point of data) {
      const { minute, total } = parsePoint(name, point);
      const earlier = byMinute.get(minute);
      byMinute.set(minute, total === undefined ? earlier : (earlier ?? 0) + total);
    }
  }
  const points = [...byMinute].map(([minute, total]) => ({ minute, total })).sort((a, b) => a.minute - b.minute);
  return { name, points };
}

function parsePoint(name: string, point: unknown): MinutePoint {
  const stamp = field(point, 'timeStamp');
  const time = typeof stamp === 'string' ? Date.parse(stamp) : Number.NaN;
  if (Number.isNaN(time)) throw new MetricsAnswerError(`${name}: a data point has no valid timeStamp`);
  if (time % minuteMilliseconds !== 0) throw new MetricsAnswerError(`${name}: timeStamp ${printable(String(stamp))} is not on a minute`);
  const total = field(point, 'total');
  if (total === undefined || total === null) return { minute: time, total: undefined };
  if (typeof total !== 'number' || !Number.isFinite(total) || total < 0) {
    throw new MetricsAnswerError(`${name}: total at ${printable(String(stamp))} is not a non-negative number`);
  }
  return { minute: time, total };
}

/** The metric names a hub defines. */
export function parseMetricDefinitions(body: unknown): string[] {
  const value = field(body, 'value');
  if (!Array.isArray(value)) throw new MetricsAnswerError(errorHint(body) ?? 'definitions answer has no "value" array');
  return value.flatMap((item) => {
    const name = field(field(item, 'name'), 'value');
    return typeof name === 'string' && name !== '' ? [name] : [];
  });
}

/**
 * A short, printable excerpt of an ARM error document: `{"error": {"code", "message"}}` (ARM) or
 * `{"code", "message"}` (the metrics API). Messages may name the resource, never a secret.
 */
export function armErrorDetail(text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  return errorHint(body);
}

function errorHint(body: unknown): string | undefined {
  const error = field(body, 'error') ?? body;
  const code = field(error, 'code');
  const message = field(error, 'message');
  const parts = [typeof code === 'string' ? code : undefined, typeof message === 'string' ? message : undefined].filter(Boolean) as string[];
  return parts.length > 0 ? printable(parts.join(': ')) : undefined;
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[name] : undefined;
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, ' ').slice(0, 200);
}
