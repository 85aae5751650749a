import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../../time/clock.js';
import { applyBodyFault, isBodyFault, type BodyFault } from '../body-faults.js';
import { compareBySort, FilterError, matchesFilter } from './filter.js';

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

type StoredNotification = Record<string, unknown> & { Id?: unknown; ModifiedAt?: unknown };

export interface EverliveSimulatorOptions {
  appId: string;
  masterKey: string;
  clock?: Clock;
  /** The largest Take the server allows. */
  maximumTake?: number;
}

/**
 * A fake Telerik Backend Services (Everlive) push-notification API on 127.0.0.1:
 * GET /{appId}/Push/Notifications with `Authorization: Masterkey <key>`, X-Everlive-Filter/Sort/
 * Skip/Take (or the filter/sort/skip/take query parameters), `{"Result":[...],"Count":n}` answers,
 * Everlive-style errors `{"message","errorCode"}`, feedback that grows, and injectable faults.
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

  async start(port = 0): Promise<string> {
    this.server = createServer((request, response) => this.handle(request, response));
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
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
  createNotification(options: { platforms?: string[]; status?: string | null; id?: string } = {}): string {
    const id = options.id ?? randomUUID();
    const now = this.isoNow();
    const feedback = Object.fromEntries((options.platforms ?? ['4']).map((key) => [key, { Sent: 0, Deactivated: 0, Failed: 0 }]));
    const notification: StoredNotification = {
      Id: id,
      CreatedAt: now,
      ModifiedAt: now,
      // Personal data, as real notifications carry: the exporter must never log it.
      Message: 'Hello Jane Doe, your code is 424242',
      Feedback: feedback,
    };
    if (options.status !== null) notification.Status = options.status ?? 'Sent';
    this.notifications.set(id, notification);
    return id;
  }

  /** Adds to a notification's feedback (as the push services report back) and touches ModifiedAt. */
  addFeedback(id: string, platformKey: string, growth: { Sent?: number; Failed?: number; Deactivated?: number }): void {
    const notification = this.notifications.get(id);
    if (!notification) throw new Error(`no notification ${id}`);
    const feedback = notification.Feedback as Record<string, { Sent: number; Failed: number; Deactivated: number }>;
    const counts = (feedback[platformKey] ??= { Sent: 0, Deactivated: 0, Failed: 0 });
    counts.Sent += growth.Sent ?? 0;
    counts.Failed += growth.Failed ?? 0;
    counts.Deactivated += growth.Deactivated ?? 0;
    notification.ModifiedAt = this.isoNow();
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
    const totals = new Map<string, number>();
    for (const document of this.notifications.values()) {
      if (!isValid(document)) continue;
      for (const [key, counts] of Object.entries((document.Feedback ?? {}) as Record<string, Record<string, number>>)) {
        for (const outcome of ['Sent', 'Failed', 'Deactivated']) {
          const value = counts[outcome] ?? 0;
          if (value > 0) totals.set(`${key}/${outcome}`, (totals.get(`${key}/${outcome}`) ?? 0) + value);
        }
      }
    }
    return totals;
  }

  get size(): number {
    return this.notifications.size;
  }

  private isoNow(): string {
    return new Date(this.clock.now()).toISOString();
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
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
