import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../time/clock.js';
import { createSasToken, SasTokenProvider } from './sas.js';

describe('createSasToken', () => {
  it('signs the lower-cased, URI-encoded resource with the key text as HMAC key', () => {
    const token = createSasToken({
      resourceUri: 'https://Contoso.servicebus.windows.net/My-Hub',
      keyName: 'DefaultFullSharedAccessSignature',
      key: 'c2VjcmV0LWtleS1ub3QtZGVjb2RlZA==',
      expiresAtSeconds: 1_700_000_000,
    });
    const encoded = encodeURIComponent('https://contoso.servicebus.windows.net/my-hub');
    // Computed independently: the key is the UTF-8 text, not its base64-decoded bytes.
    const expected = createHmac('sha256', 'c2VjcmV0LWtleS1ub3QtZGVjb2RlZA==')
      .update(`${encoded}\n1700000000`)
      .digest('base64');
    expect(token).toBe(
      `SharedAccessSignature sr=${encoded}&sig=${encodeURIComponent(expected)}&se=1700000000&skn=DefaultFullSharedAccessSignature`,
    );
    expect(token).toContain('sr=https%3A%2F%2Fcontoso.servicebus.windows.net%2Fmy-hub');
  });
});

describe('SasTokenProvider', () => {
  it('reuses a token until it is close to expiry, then renews it', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const provider = new SasTokenProvider({
      resourceUri: 'https://ns.servicebus.windows.net/hub',
      keyName: 'listen',
      key: 'k',
      clock,
      validityMilliseconds: 60 * 60_000,
      renewBeforeMilliseconds: 5 * 60_000,
    });
    const first = provider.authorizationHeader();
    expect(first).toContain(`se=${Date.UTC(2026, 0, 1) / 1000 + 3600}`);
    clock.advance(54 * 60_000);
    expect(provider.authorizationHeader()).toBe(first);
    clock.advance(2 * 60_000);
    const renewed = provider.authorizationHeader();
    expect(renewed).not.toBe(first);
    expect(renewed).toContain(`se=${Date.UTC(2026, 0, 1) / 1000 + 56 * 60 + 3600}`);
  });
});
