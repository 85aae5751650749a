import type { ServerResponse } from 'node:http';

/** Faults in an answer's body, injectable in both simulators. */
export type BodyFault =
  /** This exact body (an entity-expansion bomb, truncated or malformed XML/JSON, an HTML error page). */
  | { kind: 'body'; body: string; status?: number; contentType?: string }
  /** A 200 answer of `bytes` bytes, streamed (the simulator itself never holds it). */
  | { kind: 'huge'; bytes: number }
  /** Headers at once, then one byte every `intervalMilliseconds`, `chunks` times, then an unusable end. */
  | { kind: 'slowBody'; chunks: number; intervalMilliseconds: number }
  /** Content-Length promises more than is sent, then the connection closes. */
  | { kind: 'truncated' };

export interface BodyFaultStyle {
  contentType: string;
  /** A huge body starts with this, repeats the filler, and ends with the suffix. */
  hugePrefix: string;
  hugeFiller: string;
  hugeSuffix: string;
  /** What a slow body starts with. */
  slowPrefix: string;
}

const bodyFaultKinds = new Set(['body', 'huge', 'slowBody', 'truncated']);

export function isBodyFault(fault: { kind: string }): fault is BodyFault {
  return bodyFaultKinds.has(fault.kind);
}

export function applyBodyFault(fault: BodyFault, response: ServerResponse, style: BodyFaultStyle): void {
  switch (fault.kind) {
    case 'body':
      response.writeHead(fault.status ?? 200, { 'content-type': fault.contentType ?? style.contentType });
      response.end(fault.body);
      return;
    case 'huge':
      streamHuge(response, fault.bytes, style);
      return;
    case 'slowBody':
      trickle(response, fault, style);
      return;
    case 'truncated': {
      const start = `${style.slowPrefix}${style.hugePrefix}`;
      response.writeHead(200, { 'content-type': style.contentType, 'content-length': String(Buffer.byteLength(start) + 10_000) });
      response.write(start, () => response.socket?.destroy());
      return;
    }
  }
}

function streamHuge(response: ServerResponse, bytes: number, style: BodyFaultStyle): void {
  const filler = Buffer.from(style.hugeFiller.repeat(Math.ceil(65_536 / style.hugeFiller.length)));
  const suffix = Buffer.from(style.hugeSuffix);
  const prefix = Buffer.from(style.hugePrefix);
  response.writeHead(200, { 'content-type': style.contentType, 'content-length': String(bytes) });
  let remaining = bytes;
  let closed = false;
  response.once('close', () => (closed = true));
  const write = () => {
    while (!closed && remaining > 0) {
      let chunk: Buffer;
      if (remaining === bytes) chunk = prefix.subarray(0, remaining);
      else if (remaining <= suffix.length) chunk = suffix.subarray(suffix.length - remaining);
      else chunk = filler.subarray(0, Math.min(filler.length, remaining - suffix.length));
      remaining -= chunk.length;
      if (remaining === 0) {
        response.end(chunk);
        return;
      }
      // Back-pressure: the simulator holds at most one chunk, whatever the size asked for.
      if (!response.write(chunk)) {
        response.once('drain', write);
        return;
      }
    }
  };
  write();
}

function trickle(response: ServerResponse, fault: { chunks: number; intervalMilliseconds: number }, style: BodyFaultStyle): void {
  response.writeHead(200, { 'content-type': style.contentType });
  response.write(style.slowPrefix);
  let sent = 0;
  const timer = setInterval(() => {
    if (response.destroyed || response.writableEnded) {
      clearInterval(timer);
      return;
    }
    sent += 1;
    if (sent >= fault.chunks) {
      clearInterval(timer);
      response.end(' <');
      return;
    }
    response.write(' ');
  }, fault.intervalMilliseconds);
  timer.unref();
  response.once('close', () => clearInterval(timer));
}
