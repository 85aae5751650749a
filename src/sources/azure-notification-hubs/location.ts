/**
 * The send APIs answer `Location: https://{namespace}.servicebus.windows.net/{hub}/messages/{id}?api-version=...`;
 * the telemetry document itself uses the `sb://` scheme. Both are accepted.
 * https://learn.microsoft.com/rest/api/notificationhubs/send-template-notification
 */
export interface ParsedLocation {
  namespaceHost: string;
  hub: string;
  notificationId: string;
}

export function parseLocation(location: string): ParsedLocation | string {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return 'location is not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'sb:') return 'location must be an https:// (or sb://) URL';
  if (url.username || url.password) return 'location must not contain credentials';
  const segments = url.pathname.split('/').filter((segment) => segment !== '');
  if (segments.length !== 3 || segments[1]?.toLowerCase() !== 'messages') {
    return 'location path must be /{hub}/messages/{notificationId}';
  }
  let hub: string;
  let notificationId: string;
  try {
    hub = decodeURIComponent(segments[0] as string);
    notificationId = decodeURIComponent(segments[2] as string);
  } catch {
    return 'location path is not valid percent-encoding';
  }
  return { namespaceHost: url.hostname.toLowerCase(), hub, notificationId };
}
