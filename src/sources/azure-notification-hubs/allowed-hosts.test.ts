import { describe, expect, it } from 'vitest';
import { checkErrorDetailsUrl } from './allowed-hosts.js';

const defaults = ['*.blob.core.windows.net'];

describe('checkErrorDetailsUrl', () => {
  it.each([
    ['https://account.blob.core.windows.net/container/blob?sv=1&sig=x', defaults, true],
    ['https://account.blob.core.windows.net:443/c/b', defaults, true],
    ['https://blob.core.windows.net/c/b', defaults, false],
    ['https://a.b.blob.core.windows.net/c/b', defaults, false],
    ['https://evil.example.com/blob.core.windows.net', defaults, false],
    ['https://account.blob.core.windows.net.evil.com/c', defaults, false],
    ['https://account.blob.core.windows.net:8443/c/b', defaults, false],
    ['https://account.blob.core.windows.net:8443/c/b', ['*.blob.core.windows.net:8443'], true],
    ['http://account.blob.core.windows.net/c/b', defaults, false],
    ['http://127.0.0.1:9000/pnserrors/x', ['127.0.0.1:9000'], true],
    ['http://127.0.0.1:9001/pnserrors/x', ['127.0.0.1:9000'], false],
    ['http://127.0.0.1:9000/pnserrors/x', ['127.0.0.1'], false],
    ['http://10.0.0.5:9000/x', ['10.0.0.5:9000'], false],
    ['https://user:pass@account.blob.core.windows.net/c', defaults, false],
    ['file:///etc/passwd', defaults, false],
    ['not a url', defaults, false],
  ])('%s with %j → %s', (url, allowed, expected) => {
    expect(checkErrorDetailsUrl(url, allowed).allowed).toBe(expected);
  });
});
