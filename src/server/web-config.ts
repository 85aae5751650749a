import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureVersion } from 'node:tls';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';

/**
 * The web config file (`server.webConfigFile`): TLS and basic auth for the exporter's own endpoints,
 * in the format of the Prometheus exporter-toolkit, so it is configured the way every Prometheus
 * exporter is. https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md
 *
 * Supported: tls_server_config (cert_file/cert, key_file/key, client_auth_type, client_ca_file/client_ca,
 * min_version, max_version), http_server_config (headers; http2 is accepted and ignored: the exporter
 * serves HTTP/1.1), basic_auth_users. Keys the toolkit knows but this exporter does not implement are
 * refused by name rather than silently ignored; unknown keys are refused too. Relative file paths
 * resolve against the web config file's folder, as the toolkit does.
 */
export type ClientAuthType = 'NoClientCert' | 'RequestClientCert' | 'RequireAnyClientCert' | 'VerifyClientCertIfGiven' | 'RequireAndVerifyClientCert';

export interface TlsSettings {
  cert: string;
  key: string;
  /** PEM CA bundle for client certificates. */
  clientCa?: string;
  clientAuth: ClientAuthType;
  minVersion: SecureVersion;
  maxVersion: SecureVersion;
}

export interface WebConfig {
  /** Absolute path of the web config file. */
  path: string;
  tls?: TlsSettings;
  /** User name → bcrypt hash. Empty: no basic auth. */
  basicAuthUsers: ReadonlyMap<string, string>;
  /** Extra response headers (exporter-toolkit's allowed set). */
  headers: Readonly<Record<string, string>>;
  /** Every file this configuration was read from, to notice changes. */
  files: readonly string[];
}

export class WebConfigError extends Error {
  override name = 'WebConfigError';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

const tlsVersions = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const satisfies Record<string, SecureVersion>;
const tlsVersionOrder = ['TLS10', 'TLS11', 'TLS12', 'TLS13'] as const;
const tlsVersion = z.enum(tlsVersionOrder, { message: `must be one of ${tlsVersionOrder.join(', ')}` });

const clientAuthTypes = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'] as const;

/** exporter-toolkit's fixed list of configurable headers, with the accepted values where they are an enumeration. */
const allowedHeaders: Record<string, readonly string[] | undefined> = {
  'Strict-Transport-Security': undefined,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': undefined,
  'Content-Security-Policy': undefined,
};

/** Keys of the exporter-toolkit format that this exporter does not implement: refused by name. */
const unsupportedKeys: Record<string, string> = {
  'tls_server_config.cipher_suites': 'is not supported by this exporter (Node.js/OpenSSL defaults are used)',
  'tls_server_config.curve_preferences': 'is not supported by this exporter (Node.js/OpenSSL defaults are used)',
  'tls_server_config.prefer_server_cipher_suites': 'is not supported by this exporter',
  'tls_server_config.client_allowed_sans': 'is not supported by this exporter; use client_ca_file with a dedicated CA',
  rate_limit: 'is not supported in the web config; use server.intakeRateLimit in the exporter config',
};

const bcryptHash = /^\$2[aby]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
const optionalText = z.string().optional();

const schema = z.strictObject({
  tls_server_config: z
    .strictObject({
      cert_file: optionalText,
      key_file: optionalText,
      cert: optionalText,
      key: optionalText,
      client_ca_file: optionalText,
      client_ca: optionalText,
      client_auth_type: z.enum(clientAuthTypes, { message: `must be one of ${clientAuthTypes.join(', ')}` }).default('NoClientCert'),
      min_version: tlsVersion.default('TLS12'),
      max_version: tlsVersion.default('TLS13'),
    })
    .optional(),
  http_server_config: z
    .strictObject({
      http2: z.boolean().optional(),
      headers: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  basic_auth_users: z.record(z.string(), z.string()).optional(),
});

export type ReadText = (path: string) => string;

/** Reads, validates and resolves a web config file; every problem names its key. Never echoes secrets. */
export function loadWebConfig(path: string, readFile: ReadText = (file) => readFileSync(file, 'utf8')): WebConfig {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFile(absolute);
  } catch (error) {
    throw new WebConfigError([`cannot read ${absolute}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) throw new WebConfigError(document.errors.map((error) => `YAML: ${error.message.split('\n')[0]}`));
  const raw: unknown = withoutEmptySections(document.toJS() ?? {});

  const problems = findUnsupportedKeys(raw);
  if (problems.length > 0) throw new WebConfigError(problems);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new WebConfigError(
      parsed.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key`)
          : [`${formatPath(issue.path) || '(top level)'}: ${issue.message}`],
      ),
    );
  }

  const folder = dirname(absolute);
  const files = [absolute];
  const readReferenced = (key: string, file: string): string | undefined => {
    const full = resolve(folder, file);
    files.push(full);
    try {
      return readFile(full);
    } catch (error) {
      problems.push(`${key}: cannot read ${full}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
      return undefined;
    }
  };

  const config = parsed.data;
  let tls: TlsSettings | undefined;
  const tlsConfig = config.tls_server_config;
  if (tlsConfig) {
    const pick = (fileKey: 'cert_file' | 'key_file' | 'client_ca_file', inlineKey: 'cert' | 'key' | 'client_ca'): string | undefined => {
      const file = emptyToUndefined(tlsConfig[fileKey]);
      const inline = emptyToUndefined(tlsConfig[inlineKey]);
      if (file !== undefined && inline !== undefined) {
        problems.push(`tls_server_config.${fileKey}: give either ${fileKey} or ${inlineKey}, not both`);
        return undefined;
      }
      return file !== undefined ? readReferenced(`tls_server_config.${fileKey}`, file) : inline;
    };
    const certGiven = emptyToUndefined(tlsConfig.cert_file) ?? emptyToUndefined(tlsConfig.cert);
    const keyGiven = emptyToUndefined(tlsConfig.key_file) ?? emptyToUndefined(tlsConfig.key);
    const cert = pick('cert_file', 'cert');
    const key = pick('key_file', 'key');
    const clientCa = pick('client_ca_file', 'client_ca');
    const clientAuth = tlsConfig.client_auth_type;
    if (certGiven === undefined && keyGiven !== undefined) problems.push('tls_server_config.cert_file: is required with key_file');
    if (keyGiven === undefined && certGiven !== undefined) problems.push('tls_server_config.key_file: is required with cert_file');
    if (certGiven === undefined && keyGiven === undefined && (clientAuth !== 'NoClientCert' || clientCa !== undefined)) {
      problems.push('tls_server_config.cert_file: is required (client certificates need TLS)');
    }
    if (clientCa !== undefined && (clientAuth === 'NoClientCert' || clientAuth === 'RequestClientCert' || clientAuth === 'RequireAnyClientCert')) {
      problems.push(`tls_server_config.client_ca_file: is given but client_auth_type ${clientAuth} does not verify client certificates`);
    }
    if (clientCa === undefined && (clientAuth === 'VerifyClientCertIfGiven' || clientAuth === 'RequireAndVerifyClientCert')) {
      problems.push(`tls_server_config.client_ca_file: is required with client_auth_type ${clientAuth}`);
    }
    if (tlsVersionOrder.indexOf(tlsConfig.min_version) > tlsVersionOrder.indexOf(tlsConfig.max_version)) {
      problems.push('tls_server_config.min_version: is higher than max_version');
    }
    if (cert !== undefined && key !== undefined) {
      const settings: TlsSettings = {
        cert,
        key,
        clientCa,
        clientAuth,
        minVersion: tlsVersions[tlsConfig.min_version],
        maxVersion: tlsVersions[tlsConfig.max_version],
      };
      const problem = checkSecureContext(settings);
      if (problem) problems.push(problem);
      tls = settings;
    }
  }

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(config.http_server_config?.headers ?? {})) {
    if (!(name in allowedHeaders)) {
      problems.push(`http_server_config.headers.${name}: this header can not be configured (allowed: ${Object.keys(allowedHeaders).join(', ')})`);
      continue;
    }
    const accepted = allowedHeaders[name];
    if (accepted && !accepted.includes(value)) {
      problems.push(`http_server_config.headers.${name}: must be one of ${accepted.join(', ')}`);
      continue;
    }
    if (/[\r\n\0]/.test(value)) {
      problems.push(`http_server_config.headers.${name}: must not contain line breaks`);
      continue;
    }
    if (value !== '') headers[name] = value;
  }

  const basicAuthUsers = new Map<string, string>();
  for (const [user, hash] of Object.entries(config.basic_auth_users ?? {})) {
    const where = `basic_auth_users.${JSON.stringify(user)}`;
    if (user === '' || user.includes(':') || [...user].some((character) => character.charCodeAt(0) < 0x20 || character.charCodeAt(0) === 0x7f)) {
      problems.push(`${where}: a user name must be non-empty, without ':' or control characters`);
    } else if (!bcryptHash.test(hash)) {
      // Never echo the value: it may be a plain-text password pasted by mistake.
      problems.push(`${where}: is not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-31; e.g. from "htpasswd -nBC 10 '' | tr -d ':\\n'")`);
    } else {
      basicAuthUsers.set(user, hash);
    }
  }

  if (problems.length > 0) throw new WebConfigError(problems);
  return { path: absolute, tls, basicAuthUsers, headers, files };
}

/** A fingerprint of the files a web config was read from: changes when any of them does. */
export function fingerprintFiles(files: readonly string[]): string {
  return files
    .map((file) => {
      try {
        const stats = statSync(file);
        return `${file}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
      } catch {
        return `${file}:missing`;
      }
    })
    .join('|');
}

/** Node.js's own check that the PEM texts parse and that the key belongs to the certificate. */
function checkSecureContext(settings: TlsSettings): string | undefined {
  try {
    createSecureContext({ cert: settings.cert, key: settings.key, ca: settings.clientCa, minVersion: settings.minVersion, maxVersion: settings.maxVersion });
    return undefined;
  } catch (error) {
    const reason = ((error as Error).message ?? 'invalid').replace(/[^\x20-\x7e]/g, ' ').slice(0, 200);
    const where = /ca|certificate authority/i.test(reason) && settings.clientCa ? 'tls_server_config.client_ca_file' : 'tls_server_config.cert_file';
    return `${where}: the certificate, key or CA cannot be used (${reason})`;
  }
}

function findUnsupportedKeys(raw: unknown): string[] {
  if (!isRecord(raw)) return [];
  const problems: string[] = [];
  for (const [path, reason] of Object.entries(unsupportedKeys)) {
    const [first, second] = path.split('.') as [string, string | undefined];
    const section = raw[first];
    const present = second === undefined ? first in raw : isRecord(section) && second in section;
    if (present) problems.push(`${path}: ${reason}`);
  }
  return problems;
}

/** `tls_server_config:` with nothing under it is an empty section, as in the toolkit. */
function withoutEmptySections(raw: unknown): unknown {
  if (!isRecord(raw)) return raw;
  return Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== null));
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part) => String(part)).join('.');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
