import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../../time/clock.js';
import { applyBodyFault, isBodyFault, type BodyFault } from '../body-faults.js';
import { growFeedback, newNotificationDocument, truthOf, type FeedbackCountsDocument, type StoredNotification } from './documents.js';
import { compareBySort, FilterError, matchesFilter } from './filter.js';
import { urlHost } from '../url-host.js';

export type EverliveFault =
  | { kind: 'status'; status: number; errorCode?: number; message?: string; retryAfterSeconds?: number }
  | { kind: 'delay'; milliseconds: number }
  | { kind: 'malformed' }
  | { kind: 'reset' }
  | BodyFault;

export interface EverliveRequest {
  at: number;
  path: string;
  status: number | 'reset';
  /** Notifications served by this request. */
  served: number;
  filter?: unknown;
  skip?: number;
  take?: number;
}

export interface EverliveSimulatorOptions {
  appId: string;
  masterKey: string;
  clock?: Clock;
  /** The largest Take the server allows. */
  maximumTake?: number;
  /**
   * The server's own clock, relative to `clock`: it stamps ModifiedAt and the `Date` header. A
   * positive or negative offset makes the server disagree with the exporter's clock.
   */
  serverClockOffsetMilliseconds?: number;
  /** Send a `Date` header (RFC 9110 §6.6.1: an origin server with a clock must); off for one that does not. */
  dateHeader?: boolean;
  /**
   * Keep top-level totals `Sent`/`Failed`/`Deactivated` in `Feedback` beside the platform keys, as
   * Telerik's documented filter `{"Feedback.Failed":{"$gt":0}}` implies some servers do. Off by
   * default: the documented example shows only platform keys.
   */
  feedbackTotals?: boolean;
}

/** A write by one writer: `clockSkewMilliseconds` is how far that writer's clock is ahead of the server's. */
export interface WriteOptions {
  clockSkewMilliseconds?: number;
}

/**
 * A fake Telerik Backend Services (Everlive) push-notification API on 127.0.0.1:
 * GET /{appId}/Push/Notifications with `Authorization: Masterkey <key>`, X-Everlive-Filter/Sort/
 * Skip/Take (or the filter/sort/skip/take query parameters), `{"Result":[...],"Count":n}` answers,
 * Everlive-style errors `{"message","errorCode"}`, feedback that grows, and injectable faults.
 * Every answer carries a `Date` header from the server's clock (as a real HTTP server's does, at
 * one-second resolution) unless `dateHeader` is false; writers may have skewed clocks.
 */
export class EverliveSimulator {
  readonly requests: EverliveRequest[] = [];
  private readonly notifications = new Map<string, StoredNotification>();
  private readonly logs = new Map<string, Record<string, unknown>[]>();
  private readonly faults: { fault: EverliveFault; remaining: number; after: number }[] = [];
  private inFlight = 0;
  /** The most requests ever in flight at once (runs must never overlap). */
  maximumConcurrentRequests = 0;
  /** Called before each list request is answered, with its number (1, 2, ...): tests change data mid-run. */
  beforeList: ((listRequestNumber: number) => void) | undefined;
  private listRequests = 0;
  private readonly clock: Clock;
  private server: Server | undefined;
  private baseUrl = '';
  private extraCounter = 0;

  constructor(private readonly options: EverliveSimulatorOptions) {
    this.clock = options.clock ?? systemClock;
  }

  get url(): string {
    return this.baseUrl;
  }

  /** Listens on 127.0.0.1 unless told otherwise (`simulate --listen`); port 0 picks a free one. */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = createServer((request, response) => this.handle(request, response));
    this.server.listen(port, host);
    await once(this.server, 'listening');
    this.baseUrl = `http://${urlHost(host)}:${(this.server.address() as AddressInfo).port}/v1`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    const closed = once(this.server, 'close');
    this.server.close();
    this.server.closeAllConnections();
    await closed;
    this.server = undefined;
  }

  /** Creates a notification with empty feedback for the given platform keys; returns its Id. */
  createNotification(options: { platforms?: string[]; status?: string | null; id?: string } & WriteOptions = {}): string {
    const id = options.id ?? randomUUID();
    const document = newNotificationDocument({
      id,
      modifiedAt: this.isoNow(options.clockSkewMilliseconds),
      platforms: options.platforms ?? ['4'],
      status: options.status === null ? null : (options.status ?? 'Sent'),
      totals: this.options.feedbackTotals === true,
    });
    this.notifications.set(id, document);
    return id;
  }

  /**
   * Adds to a notification's feedback (as the push services report back) and touches ModifiedAt with
   * the writer's clock: a writer behind an earlier one moves ModifiedAt backwards.
   */
  addFeedback(id: string, platformKey: string, growth: Partial<FeedbackCountsDocument>, options: WriteOptions = {}): void {
    const document = this.notifications.get(id);
    if (!document) throw new Error(`no notification ${id}`);
    growFeedback(document, platformKey, growth, this.isoNow(options.clockSkewMilliseconds), this.options.feedbackTotals === true);
  }

  /** Stores a raw document as the server would return it (malformed items for validation tests). */
  putRaw(document: StoredNotification): void {
    this.notifications.set(typeof document.Id === 'string' ? document.Id : `raw-${this.extraCounter++}`, document);
  }

  setLogs(id: string, entries: Record<string, unknown>[]): void {
    this.logs.set(id, entries);
  }

  /** Makes `times` requests fail this way, after letting `afterRequests` more succeed. */
  injectFault(fault: EverliveFault, times = Number.POSITIVE_INFINITY, afterRequests = 0): void {
    this.faults.push({ fault, remaining: times, after: afterRequests });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Per platform key and outcome, the totals an exact exporter must reach over valid notifications. */
  truth(isValid: (document: StoredNotification) => boolean = () => true): Map<string, number> {
    return truthOf(this.notifications.values(), isValid);
  }

  get size(): number {
    return this.notifications.size;
  }

  /** The server's clock now. */
  serverNow(): number {
    return this.clock.now() + (this.options.serverClockOffsetMilliseconds ?? 0);
  }

  private isoNow(writerSkewMilliseconds = 0): string {
    return new Date(this.serverNow() + writerSkewMilliseconds).toISOString();
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    this.setDateHeader(response);
    this.inFlight += 1;
    this.maximumConcurrentRequests = Math.max(this.maximumConcurrentRequests, this.inFlight);
    response.once('close', () => (this.inFlight -= 1));
    const url = new URL(request.url ?? '/', 'http://simulator');
    const log = (status: number | 'reset', served = 0, extra: Partial<EverliveRequest> = {}) =>
      this.requests.push({ at: this.clock.now(), path: url.pathname, status, served, ...extra });
    const prefix = `/v1/${this.options.appId}/Push/Notifications`;
    if (!url.pathname.startsWith(prefix)) {
      log(404);
      return sendError(response, 404, 'Resource not found.', 107);
    }
    if (request.headers.authorization !== `Masterkey ${this.options.masterKey}`) {
      log(401);
      return sendError(response, 401, 'Invalid or missing master key.', 301);
    }
    const fault = this.takeFault();
    if (fault) return this.applyFault(fault, response, log, () => this.route(request, response, url, prefix, log));
    this.route(request, response, url, prefix, log);
  }

  private route(
    request: IncomingMessage,
    response: ServerResponse,
    url: URL,
    prefix: string,
    log: (status: number, served?: number, extra?: Partial<EverliveRequest>) => void,
  ): void {
    if (request.method !== 'GET') {
      log(405);
      return sendError(response, 405, 'Method not allowed.', 101);
    }
    const rest = url.pathname.slice(prefix.length);
    const logsMatch = /^\/([^/]+)\/Logs$/.exec(rest);
    if (logsMatch) {
      const entries = this.logs.get(decodeURIComponent(logsMatch[1] as string)) ?? [];
      log(200, 0);
      return sendJson(response, 200, { Result: entries, Count: entries.length });
    }
    if (rest !== '' && rest !== '/') {
      log(404);
      return sendError(response, 404, 'Resource not found.', 107);
    }
    const read = (header: string, parameter: string) =>
      (request.headers[header] as string | undefined) ?? url.searchParams.get(parameter) ?? undefined;
    let filter: unknown;
    let sort: unknown;
    try {
      filter = parseJsonOption(read('x-everlive-filter', 'filter'), {});
      sort = parseJsonOption(read('x-everlive-sort', 'sort'), undefined);
    } catch {
      log(400);
      return sendError(response, 400, 'Invalid filter or sort expression.', 601);
    }
    const skip = Number(read('x-everlive-skip', 'skip') ?? 0);
    const take = Number(read('x-everlive-take', 'take') ?? 50);
    const maximumTake = this.options.maximumTake ?? 500;
    if (!Number.isInteger(skip) || skip < 0 || !Number.isInteger(take) || take < 1 || take > maximumTake) {
      log(400);
      return sendError(response, 400, `Skip must be >= 0 and Take between 1 and ${maximumTake}.`, 602);
    }
    this.listRequests += 1;
    this.beforeList?.(this.listRequests);
    let matching: StoredNotification[];
    try {
      matching = [...this.notifications.values()].filter((document) => matchesFilter(document, filter));
      if (sort !== undefined) matching.sort(compareBySort(sort));
    } catch (error) {
      log(400);
      return sendError(response, 400, error instanceof FilterError ? error.message : 'Invalid query.', 601);
    }
    const page = matching.slice(skip, skip + take);
    log(200, page.length, { filter, skip, take });
    sendJson(response, 200, { Result: page, Count: matching.length });
  }

  /**
   * Node stamps `Date` from the machine's clock; a real server stamps its own, so this one uses the
   * server's clock (IMF-fixdate, whole seconds, as HTTP requires). https://www.rfc-editor.org/rfc/rfc9110#section-6.6.1
   */
  private setDateHeader(response: ServerResponse): void {
    if (this.options.dateHeader === false) {
      response.sendDate = false;
      return;
    }
    response.setHeader('date', new Date(this.serverNow()).toUTCString());
  }

  private takeFault(): EverliveFault | undefined {
    const entry = this.faults[0];
    if (!entry) return undefined;
    if (entry.after > 0) {
      entry.after -= 1;
      return undefined;
    }
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.faults.shift();
    return entry.fault;
  }

  private applyFault(
    fault: EverliveFault,
    response: ServerResponse,
    log: (status: number | 'reset') => void,
    proceed: () => void,
  ): void {
    if (isBodyFault(fault)) {
      log(fault.kind === 'body' ? (fault.status ?? 200) : 200);
      applyBodyFault(fault, response, {
        contentType: 'application/json; charset=utf-8',
        hugePrefix: '{"Count":1,"Result":[{"Id":"huge","ModifiedAt":"2026-03-01T12:00:00.000Z","Message":"',
        hugeFiller: 'x',
        hugeSuffix: '"}]}',
        slowPrefix: '{"Result":[',
      });
      return;
    }
    switch (fault.kind) {
      case 'status': {
        log(fault.status);
        const headers: Record<string, string> = fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
        return sendError(response, fault.status, fault.message ?? `Injected fault ${fault.status}.`, fault.errorCode ?? 0, headers);
      }
      case 'delay':
        setTimeout(proceed, fault.milliseconds).unref();
        return;
      case 'malformed':
        log(200);
        response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        response.end('{"Result":[{"Id":"x","Feedback":');
        return;
      case 'reset':
        log('reset');
        response.socket?.destroy();
        return;
    }
  }
}

function parseJsonOption(text: string | undefined, fallback: unknown): unknown {
  return text === undefined || text === '' ? fallback : (JSON.parse(text) as unknown);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(body));
}

function sendError(response: ServerResponse, status: number, message: string, errorCode: number, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  response.end(JSON.stringify({ message, errorCode }));
}
