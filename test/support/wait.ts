import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** What is being waited for, for the timeout message. */
  description: string;
  timeoutMilliseconds: number;
  intervalMilliseconds?: number;
}

/**
 * Polls `check` until it returns a value other than undefined, and returns it. Tests in real time
 * wait for conditions with a deadline instead of sleeping a fixed time and hoping.
 */
export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMilliseconds;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const reason = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${options.timeoutMilliseconds} ms waiting for ${options.description}${reason}`);
    }
    await sleep(options.intervalMilliseconds ?? 250);
  }
}
