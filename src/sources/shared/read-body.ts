import type { Readable } from 'node:stream';
import { UpstreamBodyError } from './upstream-errors.js';

/** Reads a response body as UTF-8, refusing (and discarding the rest of) a body over the limit. */
export async function readLimitedBody(body: Readable, limitBytes: number, code: string): Promise<string> {
  return (await readLimitedBytes(body, limitBytes, code)).toString('utf8');
}

/** Reads a response body's bytes (for bodies whose encoding the caller works out), with the same limit. */
export async function readLimitedBytes(body: Readable, limitBytes: number, code: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) {
      body.destroy();
      throw new UpstreamBodyError(`response body exceeds ${limitBytes} bytes`, code);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
