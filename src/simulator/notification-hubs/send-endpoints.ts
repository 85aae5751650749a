import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../../time/clock.js';
import type { MessagePlan } from './message-plan.js';
import {
  canceledPlan,
  readSendRequest,
  scheduledNotificationId,
  scheduledPlan,
  sendLocation,
  type AcceptedSend,
  type ScheduledTelemetry,
  type SendKind,
} from './sends.js';

/** A send the simulated hub answered 201: its kind, its Location, and the ID its telemetry is under. */
export interface SimulatedSend {
  kind: SendKind;
  hub: string;
  location: string;
  telemetryId: string;
}

/** What the send endpoints need of the simulator's message store. */
export interface SendEndpointsOptions {
  namespaceHost: string;
  clock: Clock;
  random: () => number;
  planForSend?: (hub: string) => MessagePlan;
  scheduledTelemetry: ScheduledTelemetry;
  /** Registers telemetry under an ID (a new send ID when none is given); returns the ID. */
  createMessage: (hub: string, plan: MessagePlan, notificationId?: string) => string;
  message: (hub: string, notificationId: string) => { createdAt: number; plan: MessagePlan } | undefined;
  newNotificationId: () => string;
  answerError: (response: ServerResponse, status: number, detail: string) => void;
}

/**
 * The send and cancel endpoints of the simulated hub (request shapes in sends.ts). Sends create the
 * telemetry the service would then serve; scheduled sends per `scheduledTelemetry`.
 */
export class SendEndpoints {
  readonly sends: SimulatedSend[] = [];
  /** Scheduled notification ID → the ID its telemetry is under (the same one, unless `separate-id`). */
  private readonly scheduled = new Map<string, string>();

  constructor(private readonly options: SendEndpointsOptions) {}

  /** POST of any kind: 201 with Location, TrackingId, x-ms-correlation-request-id and Content-Length 0. */
  async send(request: IncomingMessage, response: ServerResponse, target: { hub: string; kind: SendKind; url: URL }, log: (status: number) => void): Promise<void> {
    const { hub, kind } = target;
    const accepted = await readSendRequest(request, kind, target.url);
    if ('status' in accepted) {
      log(accepted.status);
      return this.options.answerError(response, accepted.status, accepted.detail);
    }
    const plan = this.options.planForSend?.(hub);
    if (!plan) {
      log(400);
      return this.options.answerError(response, 400, 'this simulator has no plan for sends');
    }
    const notificationId = this.create(hub, accepted, plan);
    const location = sendLocation(this.options.namespaceHost, hub, kind, notificationId, accepted.apiVersion);
    this.sends.push({ kind, hub, location, telemetryId: this.scheduled.get(key(hub, notificationId)) ?? notificationId });
    log(201);
    response.writeHead(201, {
      location,
      trackingid: accepted.trackingId ?? randomUUID(),
      'x-ms-correlation-request-id': randomUUID(),
      'content-length': '0',
    });
    response.end();
  }

  /** DELETE /{hub}/schedulednotifications/{id}: 200 while it has not been sent, 404 otherwise. */
  cancel(hub: string, scheduledId: string, response: ServerResponse, log: (status: number) => void): void {
    const telemetryId = this.scheduled.get(key(hub, scheduledId));
    const message = telemetryId === undefined ? undefined : this.options.message(hub, telemetryId);
    const elapsed = message ? this.options.clock.now() - message.createdAt : 0;
    const due = message ? message.plan.notReadyMilliseconds + (message.plan.scheduledMilliseconds ?? 0) : 0;
    if (!message || elapsed >= due) {
      log(404);
      return this.options.answerError(response, 404, 'The scheduled notification does not exist or was already sent');
    }
    message.plan = canceledPlan(message.plan, elapsed);
    log(200);
    response.writeHead(200, { trackingid: randomUUID(), 'x-ms-correlation-request-id': randomUUID(), 'content-length': '0' });
    response.end();
  }

  /** Registers the telemetry of an accepted send; returns the ID its Location names. */
  private create(hub: string, accepted: AcceptedSend, plan: MessagePlan): string {
    if (accepted.kind !== 'scheduled') return this.options.createMessage(hub, plan);
    const now = this.options.clock.now();
    const scheduledId = scheduledNotificationId(this.options.random, now);
    const telemetry = scheduledPlan(plan, (accepted.scheduledAt ?? now) - now, this.options.scheduledTelemetry);
    const telemetryId = telemetry.under === 'id' ? scheduledId : this.options.newNotificationId();
    this.options.createMessage(hub, telemetry.plan, telemetryId);
    this.scheduled.set(key(hub, scheduledId), telemetryId);
    return scheduledId;
  }
}

function key(hub: string, notificationId: string): string {
  return `${hub.toLowerCase()}\u0000${notificationId}`;
}
