/**
 * Azure Service Bus / Notification Hubs connection strings:
 * `Endpoint=sb://NAMESPACE.servicebus.windows.net/;SharedAccessKeyName=NAME;SharedAccessKey=KEY`.
 * https://learn.microsoft.com/rest/api/notificationhubs/common-concepts
 *
 * Errors never repeat the key, nor the string they were given.
 */
export interface NotificationHubsConnection {
  /** Host of the namespace, lower-cased: `NAMESPACE.servicebus.windows.net`. */
  namespaceHost: string;
  /** The https URI of the namespace, which SAS tokens are signed for. */
  namespaceUri: string;
  sharedAccessKeyName: string;
  sharedAccessKey: string;
}

export class ConnectionStringError extends Error {
  override name = 'ConnectionStringError';
}

export function parseConnectionString(connectionString: string): NotificationHubsConnection {
  const fields = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    const trimmed = part.trim();
    if (trimmed === '') continue;
    const separator = trimmed.indexOf('=');
    if (separator <= 0) {
      throw new ConnectionStringError('malformed connection string: every part must be Key=Value separated by ";"');
    }
    // Keys are case-insensitive; values (the key itself ends in "=") keep everything after the first "=".
    fields.set(trimmed.slice(0, separator).trim().toLowerCase(), trimmed.slice(separator + 1).trim());
  }

  const endpoint = fields.get('endpoint');
  const sharedAccessKeyName = fields.get('sharedaccesskeyname');
  const sharedAccessKey = fields.get('sharedaccesskey');
  const missing = [
    endpoint ? undefined : 'Endpoint',
    sharedAccessKeyName ? undefined : 'SharedAccessKeyName',
    sharedAccessKey ? undefined : 'SharedAccessKey',
  ].filter((name): name is string => name !== undefined);
  if (missing.length > 0) {
    throw new ConnectionStringError(`malformed connection string: missing ${missing.join(', ')}`);
  }

  let endpointUrl: URL;
  try {
    endpointUrl = new URL(endpoint as string);
  } catch {
    throw new ConnectionStringError('malformed connection string: Endpoint is not a URL (expected sb://NAMESPACE.servicebus.windows.net/)');
  }
  if (endpointUrl.protocol !== 'sb:' && endpointUrl.protocol !== 'https:') {
    throw new ConnectionStringError(`malformed connection string: Endpoint scheme must be sb:// or https://, not ${endpointUrl.protocol}//`);
  }
  const namespaceHost = endpointUrl.hostname.toLowerCase();
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(namespaceHost)) {
    throw new ConnectionStringError('malformed connection string: Endpoint has no valid host name');
  }

  return {
    namespaceHost,
    namespaceUri: `https://${namespaceHost}`,
    sharedAccessKeyName: sharedAccessKeyName as string,
    sharedAccessKey: sharedAccessKey as string,
  };
}
