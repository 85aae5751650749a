import { isLoopback } from '../../net/loopback.js';

/**
 * Which PnsErrorDetailsUri may be fetched. The URL comes from the upstream document, so it is
 * checked against the per-hub allow list before any request: an entry is a host or host:port, `*.`
 * wildcards one subdomain label; plain http only for loopback hosts listed explicitly.
 */
export function checkErrorDetailsUrl(text: string, allowedHosts: readonly string[]): { allowed: true; url: URL } | { allowed: false; reason: string; host?: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { allowed: false, reason: 'not a URL' };
  }
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (url.username || url.password) return { allowed: false, reason: 'credentials in the URL', host };
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { allowed: false, reason: `scheme ${url.protocol} is not allowed`, host };
  const port = url.port === '' ? (url.protocol === 'https:' ? '443' : '80') : url.port;
  const plain = url.protocol === 'http:';
  if (plain && !isLoopback(host)) return { allowed: false, reason: 'plain http is allowed only for loopback hosts', host };
  const matched = allowedHosts.some((entry) => matches(entry.toLowerCase(), host, port, plain));
  return matched ? { allowed: true, url } : { allowed: false, reason: 'host is not in errorDetails.allowedHosts', host };
}

function matches(entry: string, host: string, port: string, plain: boolean): boolean {
  const separator = entry.lastIndexOf(':');
  const hasPort = separator > 0 && !entry.includes(']') ? /^\d+$/.test(entry.slice(separator + 1)) : /\]:\d+$/.test(entry);
  const entryHost = (hasPort ? entry.slice(0, entry.lastIndexOf(':')) : entry).replace(/^\[|\]$/g, '');
  const entryPort = hasPort ? entry.slice(entry.lastIndexOf(':') + 1) : plain ? undefined : '443';
  if (plain && (entryHost.startsWith('*.') || entryPort === undefined)) return false;
  if (entryPort !== port) return false;
  if (entryHost.startsWith('*.')) {
    const suffix = entryHost.slice(1);
    return host.endsWith(suffix) && !host.slice(0, -suffix.length).includes('.') && host.length > suffix.length;
  }
  return entryHost === host;
}

