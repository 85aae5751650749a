import { errors as undiciErrors } from 'undici';
import { UpstreamError, UpstreamNetworkError, UpstreamTimeoutError } from './upstream-errors.js';

/** Maps what undici (or our abort signal) threw to a typed upstream error: timeout or network error. */
export function classifyTransportError(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const name = (error as Error)?.name;
  if (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError ||
    name === 'TimeoutError' ||
    name === 'AbortError'
  ) {
    return new UpstreamTimeoutError('upstream request timed out');
  }
  const code = (error as { code?: string })?.code;
  return new UpstreamNetworkError(`upstream request failed: ${code ?? name ?? 'network error'}`);
}
