import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One alert as Alertmanager's webhook receiver delivers it. */
export interface ReceivedAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface WebhookPayload {
  alerts?: ReceivedAlert[];
}

/** A tiny HTTP server on 127.0.0.1 standing in for a pager: it records what Alertmanager sends. */
export class AlertWebhook {
  readonly alerts: ReceivedAlert[] = [];
  private server: Server | undefined;
  private port = 0;

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        try {
          const payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookPayload;
          this.alerts.push(...(payload.alerts ?? []));
          response.writeHead(200).end();
        } catch {
          response.writeHead(400).end();
        }
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/alerts`;
  }

  /** The first firing alert with this name whose labels include `labels`. */
  find(alertname: string, labels: Record<string, string> = {}): ReceivedAlert | undefined {
    return this.alerts.find(
      (alert) =>
        alert.status === 'firing' &&
        alert.labels.alertname === alertname &&
        Object.entries(labels).every(([name, value]) => alert.labels[name] === value),
    );
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    const closed = once(this.server, 'close');
    this.server.close();
    this.server.closeAllConnections();
    await closed;
    this.server = undefined;
  }
}
