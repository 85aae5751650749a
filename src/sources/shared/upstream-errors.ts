/**
 * Typed errors thrown by upstream clients. Sources only say what happened; the poll loop decides
 * what it means for health metrics, retries and back-off.
 */
export abstract class UpstreamError extends Error {
  /** The `code` label of push_notification_upstream_requests_total. */
  abstract readonly code: string;
  /** The `operation` label, when the step that failed is not the one asked for (a token fetched first). */
  readonly operation?: string;
}

/** The upstream answered with a status that is not a valid answer. */
export class UpstreamHttpError extends UpstreamError {
  override name = 'UpstreamHttpError';
  readonly code: string;
  constructor(
    readonly status: number,
    /** From Retry-After, retry-after-ms or x-ms-retry-after-ms, when the upstream sent one. */
    readonly retryAfterMilliseconds: number | undefined,
    /** A short, secret-free excerpt of the upstream's error text. */
    readonly detail: string | undefined,
  ) {
    super(`upstream answered HTTP ${status}${detail ? `: ${detail}` : ''}`);
    this.code = String(status);
  }

  /** True when the answer means the credentials are wrong, whatever the status (Entra ID answers 400 for an unknown client). */
  get rejectsCredentials(): boolean {
    return this.status === 401;
  }
}

export class UpstreamTimeoutError extends UpstreamError {
  override name = 'UpstreamTimeoutError';
  readonly code = 'timeout';
}

export class UpstreamNetworkError extends UpstreamError {
  override name = 'UpstreamNetworkError';
  readonly code = 'network_error';
}

/** A 2xx answer whose body could not be used (too large, truncated, or not parseable). */
export class UpstreamBodyError extends UpstreamError {
  override name = 'UpstreamBodyError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}
