import { describe, expect, it } from 'vitest';
import { ConnectionStringError, parseConnectionString } from './connection-string.js';

describe('parseConnectionString', () => {
  it('reads the portal form, keeping "=" inside the key', () => {
    expect(
      parseConnectionString(
        'Endpoint=sb://Contoso.servicebus.windows.net/;SharedAccessKeyName=DefaultListenSharedAccessSignature;SharedAccessKey=abc+/def==',
      ),
    ).toEqual({
      namespaceHost: 'contoso.servicebus.windows.net',
      namespaceUri: 'https://contoso.servicebus.windows.net',
      sharedAccessKeyName: 'DefaultListenSharedAccessSignature',
      sharedAccessKey: 'abc+/def==',
    });
  });

  it('accepts keys in any case, spaces and a trailing separator', () => {
    const parsed = parseConnectionString(' endpoint=sb://ns.servicebus.windows.net/ ; sharedaccesskeyname=n ; SHAREDACCESSKEY=k ;');
    expect(parsed.sharedAccessKeyName).toBe('n');
    expect(parsed.sharedAccessKey).toBe('k');
  });

  it.each([
    ['', /missing Endpoint, SharedAccessKeyName, SharedAccessKey/],
    ['Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=n', /missing SharedAccessKey$/],
    ['Endpoint=not a url;SharedAccessKeyName=n;SharedAccessKey=TOPSECRET', /Endpoint is not a URL/],
    ['Endpoint=ftp://ns/;SharedAccessKeyName=n;SharedAccessKey=TOPSECRET', /scheme must be sb:\/\/ or https:\/\//],
    ['Endpoint=sb://ns.servicebus.windows.net/;garbage;SharedAccessKey=TOPSECRET', /Key=Value/],
  ])('refuses %j without echoing the key', (input, message) => {
    let error: unknown;
    try {
      parseConnectionString(input);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConnectionStringError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('TOPSECRET');
  });
});
