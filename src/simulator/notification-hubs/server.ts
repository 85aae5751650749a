import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../../time/clock.js';
import { finishesAt, snapshotAt, type MessagePlan } from './message-plan.js';
import { errorRecords, hasErrorDetails, renderPnsFeedbackBlob } from './pns-feedback-blob.js';
import { escapeXml, renderNotificationDetails } from './render.js';
import { applyBodyFault, isBodyFault, type BodyFault } from '../body-faults.js';
import { verifySasHeader } from './sas-verifier.js';
import { SendEndpoints, type SimulatedSend } from './send-endpoints.js';
import { sendKindOf, type ScheduledTelemetry } from './sends.js';
import { urlHost } from '../url-host.js';

export interface SimulatedHub {
  name: string;
  /** SharedAccessKeyName → SharedAccessKey accepted for this hub. */
  keys: Record<string, string>;
}

export type SimulatorFault =
  | { kind: 'status'; status: number; retryAfterSeconds?: number; retryAfterMilliseconds?: number }
  | { kind: 'delay'; milliseconds: number }
  /** Keeps the request waiting until releaseHeld(), then answers it normally (requests in flight together). */
  | { kind: 'hold' }
  | { kind: 'malformed' }
  | { kind: 'reset' }
  | BodyFault;

/**
 * Faults in the answer's body, shared by both simulators (src/simulator/body-faults.ts): a given body
 * (an entity-expansion bomb, a wrong document), a huge streamed body, a body that trickles in, and a
 * body cut short by the connection closing.
 */
export type { BodyFault } from '../body-faults.js';

export interface SimulatorRequest {
  at: number;
  method: string;
  hub: string;
  notificationId?: string;
  status: number | 'reset';
  /** It came while an answered Retry-After was still running (a client that ignores it). */
  duringRetryAfter?: boolean;
}

interface SimulatedMessage {
  hub: string;
  notificationId: string;
  createdAt: number;
  plan: MessagePlan;
}

export interface NotificationHubsSimulatorOptions {
  /** The namespace name: SAS tokens must be signed for https://{namespace}.servicebus.windows.net/... */
  namespace: string;
  hubs: SimulatedHub[];
  clock?: Clock;
  random?: () => number;
  /** Plan for messages created through the send endpoints (POST /{hub}/messages, …/$batch, /{hub}/schedulednotifications). */
  planForSend?: (hub: string) => MessagePlan;
  /** What the ID of a scheduled send answers on the telemetry endpoint (see sends.ts); default `scheduled-state`. */
  scheduledTelemetry?: ScheduledTelemetry;
  /** Serve https with this PEM key and certificate instead of http (the Azure SDK speaks only https). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /**
   * Also accept SAS tokens signed for the address the simulator serves on (https://127.0.0.1:PORT/...):
   * the Azure SDK signs for the endpoint it connects to. Off by default; verification stays exact.
   */
  acceptOwnAddressAudience?: boolean;
}

/**
 * A faithful fake of the Notification Hubs per-message telemetry API on 127.0.0.1: exact SAS
 * verification, 404 until a message is ready, Enqueued → Processing (counts growing) → final state,
 * and injectable faults. Used by tests, the demo and benchmarks.
 */
export class NotificationHubsSimulator {
  readonly namespaceHost: string;
  readonly requests: SimulatorRequest[] = [];
  private readonly messages = new Map<string, SimulatedMessage>();
  private readonly sendEndpoints: SendEndpoints;
  private readonly faults = new Map<string, { fault: SimulatorFault; remaining: number }[]>();
  /** Per hub: the end of the last Retry-After answered. Like the service, it throttles until then. */
  private readonly retryAfterEnds = new Map<string, number>();
  private held: (() => void)[] = [];
  private readonly hubs: Map<string, Map<string, string>>;
  private readonly clock: Clock;
  private readonly random: () => number;
  private server: Server | undefined;
  private baseUrl = '';
  /** A second, https listener on the same simulated hubs (see startTls). */
  private tlsServer: Server | undefined;
  private tlsBaseUrl = '';

  constructor(private readonly options: NotificationHubsSimulatorOptions) {
    this.namespaceHost = `${options.namespace}.servicebus.windows.net`;
    this.hubs = new Map(options.hubs.map((hub) => [hub.name.toLowerCase(), new Map(Object.entries(hub.keys))]));
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.sendEndpoints = new SendEndpoints({
      namespaceHost: this.namespaceHost,
      clock: this.clock,
      random: this.random,
      planForSend: options.planForSend,
      scheduledTelemetry: options.scheduledTelemetry ?? 'scheduled-state',
      createMessage: (hub, plan, notificationId) => this.createMessage(hub, plan, notificationId),
      message: (hub, notificationId) => this.messages.get(messageKey(hub, notificationId)),
      newNotificationId: () => generateNotificationId(this.random),
      answerError: (response, status, detail) => sendError(response, status, detail),
    });
  }

  /** Every send answered 201, in order: its kind, its Location, and the ID its telemetry is under. */
  get sends(): readonly SimulatedSend[] {
    return this.sendEndpoints.sends;
  }

  get url(): string {
    return this.baseUrl;
  }

  connectionString(hub: string): string {
    const [keyName, key] = Object.entries(this.options.hubs.find((candidate) => candidate.name === hub)?.keys ?? {})[0] ?? [];
    return `Endpoint=sb://${this.namespaceHost}/;SharedAccessKeyName=${keyName};SharedAccessKey=${key}`;
  }

  /** Listens on 127.0.0.1 unless told otherwise (`simulate --listen`); port 0 picks a free one. */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const handler = (request: IncomingMessage, response: ServerResponse) => this.handle(request, response);
    const { tls } = this.options;
    this.server = tls ? createHttpsServer({ key: tls.key, cert: tls.cert }, handler) : createServer(handler);
    this.server.keepAliveTimeout = 60_000;
    this.server.listen(port, host);
    await once(this.server, 'listening');
    this.baseUrl = `${tls ? 'https' : 'http'}://${urlHost(host)}:${(this.server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  /**
   * Also serves https, on a port of its own, for clients that speak only https (the Azure SDK) while
   * the exporter under test talks http to the same simulated hubs. Returns that listener's URL.
   */
  async startTls(tls: { key: string | Buffer; cert: string | Buffer }, port = 0): Promise<string> {
    this.tlsServer = createHttpsServer({ key: tls.key, cert: tls.cert }, (request, response) => this.handle(request, response));
    this.tlsServer.listen(port, '127.0.0.1');
    await once(this.tlsServer, 'listening');
    this.tlsBaseUrl = `https://127.0.0.1:${(this.tlsServer.address() as AddressInfo).port}`;
    return this.tlsBaseUrl;
  }

  get tlsUrl(): string {
    return this.tlsBaseUrl;
  }

  async stop(): Promise<void> {
    for (const server of [this.server, this.tlsServer]) {
      if (!server) continue;
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    }
    this.server = undefined;
    this.tlsServer = undefined;
  }

  /** Creates a message now; returns its ID. */
  createMessage(hub: string, plan: MessagePlan, notificationId: string = generateNotificationId(this.random)): string {
    this.messages.set(messageKey(hub, notificationId), { hub, notificationId, createdAt: this.clock.now(), plan });
    return notificationId;
  }

  /** The `Location` a send would have answered for this message. */
  locationOf(hub: string, notificationId: string): string {
    return `https://${this.namespaceHost}/${hub}/messages/${notificationId}?api-version=2020-06`;
  }

  /** Makes the next `times` requests to `hub` fail this way (Infinity until cleared). */
  injectFault(hub: string, fault: SimulatorFault, times = Number.POSITIVE_INFINITY): void {
    const list = this.faults.get(hub.toLowerCase()) ?? [];
    list.push({ fault, remaining: times });
    this.faults.set(hub.toLowerCase(), list);
  }

  clearFaults(hub?: string): void {
    if (hub === undefined) this.faults.clear();
    else this.faults.delete(hub.toLowerCase());
  }

  /**
   * What an exact exporter must end up counting for `hub`, once every message has finished; with
   * `only`, over those messages alone (the ones the exporter was told about).
   */
  truth(hub: string, only?: (notificationId: string) => boolean): {
    outcomes: Map<string, number>;
    finalStates: Map<string, number>;
    unfinished: number;
  } {
    const outcomes = new Map<string, number>();
    const finalStates = new Map<string, number>();
    let unfinished = 0;
    for (const message of this.messages.values()) {
      if (message.hub !== hub || (only && !only(message.notificationId))) continue;
      const finished = finishesAt(message.plan, message.createdAt);
      if (finished === undefined) {
        unfinished += 1;
        continue;
      }
      finalStates.set(message.plan.finalState, (finalStates.get(message.plan.finalState) ?? 0) + 1);
      if (message.plan.finalState === 'Canceled') continue;
      for (const [collection, counts] of Object.entries(message.plan.outcomes)) {
        const platform = collection.replace(/OutcomeCounts$/, '').toLowerCase();
        for (const [name, count] of Object.entries(counts)) {
          if (count === 0) continue;
          const key = `${platform}/${name}`;
          outcomes.set(key, (outcomes.get(key) ?? 0) + count);
        }
      }
    }
    return { outcomes, finalStates, unfinished };
  }

  /** A pre-signed-looking blob URL on this server (the `sig` is a stand-in secret: never log it). */
  errorDetailsUriOf(hub: string, notificationId: string): string {
    return `${this.baseUrl}/pnserrors/${encodeURIComponent(hub)}/${encodeURIComponent(notificationId)}?sv=2020-08-04&sr=b&sig=c2ltdWxhdGVkLWJsb2Itc2lnbmF0dXJl`;
  }

  /** PNS error records an exact exporter must count for `hub`, by `platform/error`. */
  errorTruth(hub: string): Map<string, number> {
    const totals = new Map<string, number>();
    for (const message of this.messages.values()) {
      if (message.hub !== hub || !message.plan.errorDetails || finishesAt(message.plan, message.createdAt) === undefined) continue;
      for (const record of errorRecords(message.plan)) totals.set(`${record.platform}/${record.error}`, (totals.get(`${record.platform}/${record.error}`) ?? 0) + 1);
    }
    return totals;
  }

  private serveErrorDetails(segments: string[], log: (status: number) => void, response: ServerResponse): void {
    const [, hub = '', notificationId = ''] = segments;
    const message = this.messages.get(messageKey(hub, notificationId));
    const finished = message && finishesAt(message.plan, message.createdAt);
    const readyAt = finished === undefined || !message || !hasErrorDetails(message.plan) ? undefined : finished + (message.plan.errorDetails?.notReadyMilliseconds ?? 0);
    if (!message || readyAt === undefined || this.clock.now() < readyAt) {
      log(404);
      response.writeHead(404, { 'content-type': 'application/xml' });
      response.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>');
      return;
    }
    log(200);
    // Azure Storage serves the blob with the content type it was written with: octet-stream, no charset.
    response.writeHead(200, { 'content-type': 'application/octet-stream' });
    response.end(renderPnsFeedbackBlob(message.plan, notificationId));
  }

  /** Answers every request held by a `hold` fault; returns how many. */
  releaseHeld(): number {
    const held = this.held;
    this.held = [];
    for (const proceed of held) proceed();
    return held.length;
  }

  get heldCount(): number {
    return this.held.length;
  }

  requestsFor(notificationId: string): SimulatorRequest[] {
    return this.requests.filter((request) => request.notificationId === notificationId);
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://simulator');
    const segments = url.pathname.split('/').filter((segment) => segment !== '').map(decodeURIComponent);
    const hub = segments[0] ?? '';
    // Sends name no notification (a batch send's third segment is "$batch").
    const notificationId = request.method === 'POST' ? undefined : segments[2];
    const log = (status: number | 'reset') =>
      this.requests.push({ at: this.clock.now(), method: request.method ?? 'GET', hub, notificationId, status });

    if (hub === 'pnserrors') return this.serveErrorDetails(segments, log, response);
    if (segments.length < 2 || !['messages', 'schedulednotifications'].includes(segments[1]?.toLowerCase() ?? '') || segments.length > 3) {
      log(404);
      return sendError(response, 404, 'The requested resource does not exist.');
    }
    const keys = this.hubs.get(hub.toLowerCase());
    if (!keys) {
      log(404);
      return sendError(response, 404, `The hub ${hub} does not exist.`);
    }
    const verify = (resourceUri: string) =>
      verifySasHeader({ header: request.headers.authorization, resourceUri, keys, nowSeconds: Math.floor(this.clock.now() / 1000) });
    let rejection = verify(`https://${this.namespaceHost}${url.pathname}`);
    const ownAddresses = [this.baseUrl.replace(/^http:/, 'https:'), this.tlsBaseUrl].filter((address) => address !== '');
    if (rejection && this.options.acceptOwnAddressAudience && ownAddresses.some((address) => verify(`${address}${url.pathname}`) === undefined)) {
      rejection = undefined;
    }
    if (rejection) {
      log(401);
      return sendError(response, 401, rejection);
    }
    if (!url.searchParams.get('api-version') || !request.headers['x-ms-version']) {
      log(400);
      return sendError(response, 400, 'api-version query parameter and x-ms-version header are required');
    }
    const retryAfterEnd = this.retryAfterEnds.get(hub.toLowerCase()) ?? Number.NEGATIVE_INFINITY;
    if (this.clock.now() < retryAfterEnd) {
      // Still throttled: the service answers 429 again, and the request counts against the client.
      this.requests.push({ at: this.clock.now(), method: request.method ?? 'GET', hub, notificationId, status: 429, duringRetryAfter: true });
      return sendError(response, 429, 'Request rate is too high (still within Retry-After)', {
        'retry-after': String(Math.ceil((retryAfterEnd - this.clock.now()) / 1000)),
      });
    }
    const fault = this.takeFault(hub);
    if (fault) {
      this.applyFault(hub, fault, response, log, () => this.route(request, response, { hub, segments, url }, log));
      return;
    }
    this.route(request, response, { hub, segments, url }, log);
  }

  private route(
    request: IncomingMessage,
    response: ServerResponse,
    target: { hub: string; segments: string[]; url: URL },
    log: (status: number) => void,
  ): void {
    const { hub, segments, url } = target;
    const sendKind = sendKindOf(request.method, segments);
    if (sendKind) return void this.sendEndpoints.send(request, response, { hub, kind: sendKind, url }, log);
    const notificationId = segments[2];
    if (segments[1]?.toLowerCase() === 'schedulednotifications') {
      if (request.method === 'DELETE' && notificationId !== undefined) return this.sendEndpoints.cancel(hub, notificationId, response, log);
      log(405);
      return sendError(response, 405, 'method not allowed');
    }
    if (request.method !== 'GET' || notificationId === undefined) {
      log(405);
      return sendError(response, 405, 'method not allowed');
    }
    const message = this.messages.get(messageKey(hub, notificationId));
    const snapshot = message && snapshotAt(message.plan, message.createdAt, this.clock.now());
    if (!message || !snapshot || snapshot.state === 'NotReady') {
      log(404);
      return sendError(response, 404, 'The notification telemetry does not exist (yet).');
    }
    log(200);
    response.writeHead(200, { 'content-type': 'application/xml; charset=utf-8' });
    const terminal = !['Scheduled', 'Enqueued', 'Processing'].includes(snapshot.state);
    response.end(
      renderNotificationDetails({
        notificationId,
        location: this.locationOf(hub, notificationId).replace('https://', 'sb://'),
        snapshot,
        plan: message.plan,
        random: this.random,
        errorDetailsUri: terminal && hasErrorDetails(message.plan) ? this.errorDetailsUriOf(hub, notificationId) : undefined,
      }),
    );
  }

  private takeFault(hub: string): SimulatorFault | undefined {
    const list = this.faults.get(hub.toLowerCase());
    const entry = list?.[0];
    if (!list || !entry) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) list.shift();
    return entry.fault;
  }

  private applyFault(
    hub: string,
    fault: SimulatorFault,
    response: ServerResponse,
    log: (status: number | 'reset') => void,
    proceed: () => void,
  ): void {
    if (isBodyFault(fault)) {
      log(fault.kind === 'body' ? (fault.status ?? 200) : 200);
      applyBodyFault(fault, response, { contentType: 'application/xml; charset=utf-8', hugePrefix: hugeXmlPrefix, hugeFiller: '<!-- padding -->', hugeSuffix: '</Tags></NotificationDetails>', slowPrefix: '<?xml version="1.0" encoding="utf-8"?>' });
      return;
    }
    switch (fault.kind) {
      case 'status': {
        log(fault.status);
        const headers: Record<string, string> = {};
        if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
        if (fault.retryAfterMilliseconds !== undefined) headers['x-ms-retry-after-ms'] = String(fault.retryAfterMilliseconds);
        const retryAfter = fault.retryAfterMilliseconds ?? (fault.retryAfterSeconds === undefined ? undefined : fault.retryAfterSeconds * 1000);
        if (retryAfter !== undefined && fault.status >= 429) {
          const end = Math.max(this.retryAfterEnds.get(hub.toLowerCase()) ?? 0, this.clock.now() + retryAfter);
          this.retryAfterEnds.set(hub.toLowerCase(), end);
        }
        return sendError(response, fault.status, `Injected fault ${fault.status}`, headers);
      }
      case 'delay':
        setTimeout(proceed, fault.milliseconds).unref();
        return;
      case 'hold':
        this.held.push(proceed);
        return;
      case 'malformed':
        log(200);
        response.writeHead(200, { 'content-type': 'application/xml; charset=utf-8' });
        response.end('<NotificationDetails xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><State>Completed</State><ApnsOutcomeCounts><Outcome>');
        return;
      case 'reset':
        log('reset');
        response.socket?.destroy();
        return;
    }
  }
}

const hugeXmlPrefix =
  '<?xml version="1.0" encoding="utf-8"?><NotificationDetails xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect">' +
  '<State>Completed</State><Tags>';

function sendError(response: ServerResponse, status: number, detail: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/xml; charset=utf-8', ...headers });
  response.end(`<Error><Code>${status}</Code><Detail>${escapeXml(detail)}. TrackingId:${randomUUID()}</Detail></Error>`);
}

function messageKey(hub: string, notificationId: string): string {
  return `${hub.toLowerCase()}\u0000${notificationId}`;
}

function generateNotificationId(random: () => number): string {
  const digits = Array.from({ length: 19 }, (_, index) => (index === 0 ? 1 + Math.floor(random() * 9) : Math.floor(random() * 10)));
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${digits.join('')}-${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
