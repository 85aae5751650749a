/**
 * The `Location` header of a send's `201 Created` answer names the notification whose telemetry to
 * follow. The send APIs answer three forms (recorded by the .NET SDK's tests, test/…/MockData/*.http
 * in https://github.com/Azure/azure-notificationhubs-dotnet, and the JS SDK's recordings):
 *
 *   /{hub}/messages/{id}?api-version=…                  sends (tag, broadcast, direct)
 *   /{hub}/messages/$batch/{id}?api-version=…&direct    direct batch sends
 *   /{hub}/schedulednotifications/{id}?api-version=…    scheduled sends
 *
 * The ID is the last path segment in every form, as the .NET SDK reads it
 * (`Location.Segments.Last()`); the JS SDK 2.1.0 takes the fourth segment, which is "$batch" for
 * batch sends. The telemetry document itself uses the `sb://` scheme: both schemes are accepted.
 * https://learn.microsoft.com/rest/api/notificationhubs/send-template-notification
 */
export type SendKind = 'send' | 'batch' | 'scheduled';

export interface ParsedLocation {
  namespaceHost: string;
  hub: string;
  notificationId: string;
  kind: SendKind;
}

export const locationForms = '/{hub}/messages/{id}, /{hub}/messages/$batch/{id} or /{hub}/schedulednotifications/{id}';

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
  const kind = sendKindOf(segments);
  if (kind === undefined) return `location path must be ${locationForms}`;
  let hub: string;
  let notificationId: string;
  try {
    hub = decodeURIComponent(segments[0] as string);
    notificationId = decodeURIComponent(segments.at(-1) as string);
  } catch {
    return 'location path is not valid percent-encoding';
  }
  return { namespaceHost: url.hostname.toLowerCase(), hub, notificationId, kind };
}

function sendKindOf(segments: readonly string[]): SendKind | undefined {
  const collection = segments[1]?.toLowerCase();
  if (segments.length === 3 && collection === 'messages') return 'send';
  if (segments.length === 4 && collection === 'messages' && segments[2]?.toLowerCase() === '$batch') return 'batch';
  if (segments.length === 3 && collection === 'schedulednotifications') return 'scheduled';
  return undefined;
}
