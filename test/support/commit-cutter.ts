import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 between the exporter's PostgreSQL client and the real server, that can
 * lose the answer to one COMMIT: it forwards the COMMIT, waits for the server's answer (so the
 * transaction has committed), drops that answer and cuts both connections. The client is left as
 * after a network failure at the worst moment: its transaction is durable, and it does not know.
 *
 * It reads the frontend protocol only as far as needed: a simple Query message 'Q' whose text is
 * "COMMIT" (what pg sends for client.query('COMMIT')), and "BEGIN" to tell transactions apart
 * (https://www.postgresql.org/docs/current/protocol-message-formats.html).
 */
export class CommitCutter {
  private armed: { marker: Buffer; cut: () => void } | undefined;
  private readonly sockets = new Set<Socket>();
  /** COMMITs whose answer was dropped. */
  cuts = 0;

  private constructor(
    private readonly server: Server,
    private readonly upstreamPort: number,
  ) {}

  static async start(upstreamPort: number): Promise<CommitCutter> {
    const server = createServer();
    const cutter = new CommitCutter(server, upstreamPort);
    server.on('connection', (client) => cutter.relay(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return cutter;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `url` with its host and port replaced by this proxy's. */
  proxied(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  /**
   * Loses the answer to the next COMMIT of a transaction that sent `marker` (e.g. a notification ID
   * in a statement's parameters). Resolves once that COMMIT reached the server and was answered.
   */
  loseNextCommitOf(marker: string): Promise<void> {
    return new Promise((resolve) => {
      this.armed = { marker: Buffer.from(marker, 'utf8'), cut: resolve };
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    const server = connect(this.upstreamPort, '127.0.0.1');
    this.sockets.add(client).add(server);
    let sawMarker = false;
    let cutting: (() => void) | undefined;
    const end = () => {
      client.destroy();
      server.destroy();
      this.sockets.delete(client);
      this.sockets.delete(server);
    };
    client.on('data', (chunk: Buffer) => {
      if (this.armed) {
        if (isQuery(chunk, 'BEGIN')) sawMarker = false;
        if (chunk.includes(this.armed.marker)) sawMarker = true;
        if (sawMarker && isQuery(chunk, 'COMMIT')) {
          cutting = this.armed.cut;
          this.armed = undefined;
        }
      }
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (!cutting) {
        client.write(chunk);
        return;
      }
      // The server answered the COMMIT: it is durable. The client never hears of it.
      const cut = cutting;
      cutting = undefined;
      this.cuts += 1;
      end();
      cut();
    });
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
  }
}

/** Whether the chunk holds a simple Query message whose whole text is `text`. */
function isQuery(chunk: Buffer, text: string): boolean {
  const body = Buffer.from(`${text}\u0000`, 'utf8');
  for (let at = chunk.indexOf('Q'); at >= 0; at = chunk.indexOf('Q', at + 1)) {
    if (at + 5 + body.length > chunk.length) return false;
    if (chunk.readInt32BE(at + 1) === 4 + body.length && chunk.subarray(at + 5, at + 5 + body.length).equals(body)) return true;
  }
  return false;
}
