import { createServer as createHttpServer, STATUS_CODES, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../logging/logger.js';
import { fingerprintFiles, loadWebConfig, WebConfigError, type TlsSettings, type WebConfig } from './web-config.js';
import type { WebSecurity } from './web-security.js';

export interface ExporterServer {
  server: Server;
  scheme: 'http' | 'https';
  /** Re-reads the web config file if it or a file it names changed; keeps the old one if the new one is invalid. */
  reloadWebConfig(): 'unchanged' | 'reloaded' | 'refused';
  stopWatching(): void;
}

/**
 * The exporter's HTTP(S) server: TLS from the web config (with the client certificate policy),
 * malformed requests answered with a JSON 4xx instead of Node's bare one, and the web config checked
 * for changes every `reloadIntervalMilliseconds` (as exporter-toolkit picks up new certificates and
 * users without a restart). Turning TLS on or off, or changing the client certificate policy, needs a
 * restart: such a change is refused with an error log and the running configuration kept.
 */
export function createExporterServer(
  app: RequestListener,
  security: WebSecurity,
  logger: Logger,
  options: { reloadIntervalMilliseconds?: number } = {},
): ExporterServer {
  const initial = security.config;
  const tls = initial?.tls;
  const server: Server = tls ? createHttpsServer(httpsOptions(tls), app) : createHttpServer(app);
  if (tls) enforceClientCertificatePolicy(server as HttpsServer, tls);
  server.on('clientError', answerClientError);

  let fingerprint = initial ? fingerprintFiles(initial.files) : '';
  let lastProblem = '';
  const reloadWebConfig = (): 'unchanged' | 'reloaded' | 'refused' => {
    const current = security.config;
    if (!current) return 'unchanged';
    const now = fingerprintFiles(current.files);
    if (now === fingerprint) return 'unchanged';
    let next: WebConfig;
    try {
      next = loadWebConfig(current.path);
    } catch (error) {
      const problem = error instanceof WebConfigError ? error.problems.join('; ') : String(error);
      if (problem !== lastProblem) logger.error({ webConfigFile: current.path, error: problem }, 'cannot reload the web config file; keeping the running one');
      lastProblem = problem;
      return 'refused';
    }
    const restartNeeded = Boolean(next.tls) !== Boolean(tls) || (next.tls && tls && next.tls.clientAuth !== tls.clientAuth);
    if (restartNeeded) {
      const problem = 'turning TLS on or off, or changing client_auth_type, needs a restart';
      if (problem !== lastProblem) logger.error({ webConfigFile: current.path }, `${problem}; keeping the running web config`);
      lastProblem = problem;
      return 'refused';
    }
    if (next.tls) (server as HttpsServer).setSecureContext(httpsOptions(next.tls));
    security.replace(next);
    fingerprint = fingerprintFiles(next.files);
    lastProblem = '';
    logger.info({ webConfigFile: next.path, tls: Boolean(next.tls), basicAuthUsers: next.basicAuthUsers.size }, 'web config reloaded');
    return 'reloaded';
  };
  const watcher = initial ? setInterval(reloadWebConfig, options.reloadIntervalMilliseconds ?? 5_000) : undefined;
  watcher?.unref();

  return {
    server,
    scheme: tls ? 'https' : 'http',
    reloadWebConfig,
    stopWatching: () => clearInterval(watcher),
  };
}

function httpsOptions(tls: TlsSettings): ServerOptions {
  const verifying = tls.clientAuth === 'RequireAndVerifyClientCert';
  return {
    cert: tls.cert,
    key: tls.key,
    ca: tls.clientCa,
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
    requestCert: tls.clientAuth !== 'NoClientCert',
    rejectUnauthorized: verifying,
  };
}

/** The policies OpenSSL's options cannot express alone are enforced right after the handshake. */
function enforceClientCertificatePolicy(server: HttpsServer, tls: TlsSettings): void {
  if (tls.clientAuth !== 'RequireAnyClientCert' && tls.clientAuth !== 'VerifyClientCertIfGiven') return;
  server.on('secureConnection', (socket: TLSSocket) => {
    const certificate = socket.getPeerCertificate();
    const presented = certificate !== null && Object.keys(certificate).length > 0;
    const refuse = tls.clientAuth === 'RequireAnyClientCert' ? !presented : presented && !socket.authorized;
    if (refuse) socket.destroy();
  });
}

/** Malformed HTTP (bad header characters, oversized headers, ...) gets a JSON error like every other refusal. */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body = JSON.stringify({
    error: status === 431 ? 'request headers are too large' : status === 408 ? 'request timed out' : 'malformed HTTP request',
  });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
