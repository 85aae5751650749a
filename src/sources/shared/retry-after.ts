/**
 * How long an upstream asked us to wait. Azure sends `retry-after-ms` / `x-ms-retry-after-ms`
 * (milliseconds) or `Retry-After` (seconds or an HTTP date).
 * https://learn.microsoft.com/azure/architecture/best-practices/retry-service-specific
 */
/** A Retry-After longer than this (a misconfigured proxy, a far-future date) is capped. */
export const maximumRetryAfterMilliseconds = 15 * 60_000;

export function retryAfterMilliseconds(
  headers: Record<string, string | string[] | undefined>,
  now: number,
): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const value = firstHeader(headers[name]);
    if (value !== undefined && /^\d+(\.\d+)?$/.test(value.trim())) return capped(Math.ceil(Number(value)));
  }
  const retryAfter = firstHeader(headers['retry-after'])?.trim();
  if (!retryAfter) return undefined;
  if (/^\d+$/.test(retryAfter)) return capped(Number(retryAfter) * 1000);
  const date = Date.parse(retryAfter);
  if (Number.isNaN(date)) return undefined;
  // An HTTP date is the server's clock: measure it against the server's own Date header when there
  // is one, so a skewed or stepped local clock does not stretch or cancel the pause.
  const serverNow = Date.parse(firstHeader(headers.date) ?? '');
  return capped(Math.max(0, date - (Number.isNaN(serverNow) ? now : serverNow)));
}

function capped(milliseconds: number): number {
  return Math.min(milliseconds, maximumRetryAfterMilliseconds);
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
