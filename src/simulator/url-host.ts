/** A host a client can connect to, for a URL: loopback for a server on every interface, [v6] bracketed. */
export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
