import { request, type Dispatcher } from 'undici';

/** Every notification the exporter knows (tracked or recently finished), ID → state, through the list API. */
export async function listAllNotifications(url: string, token: string, dispatcher?: Dispatcher): Promise<Map<string, string>> {
  const states = new Map<string, string>();
  let cursor: string | null = null;
  do {
    const query: string = `limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const response = await request(`${url}/api/v1/notifications?${query}`, { dispatcher, headers: { authorization: `Bearer ${token}` } });
    if (response.statusCode !== 200) throw new Error(`list API answered ${response.statusCode}: ${await response.body.text()}`);
    const page = (await response.body.json()) as { items: { notificationId: string; state: string }[]; nextCursor: string | null };
    for (const item of page.items) states.set(item.notificationId, item.state);
    cursor = page.nextCursor;
  } while (cursor);
  return states;
}
