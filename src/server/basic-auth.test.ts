import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { BasicAuthenticator, parseBasicCredentials } from './basic-auth.js';

const header = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('BasicAuthenticator', () => {
  const hash = bcrypt.hashSync('right: password', 4);

  function counting() {
    const calls: string[] = [];
    const authenticator = new BasicAuthenticator(new Map([['prometheus', hash]]), {
      compare: async (password, candidate) => {
        calls.push(candidate === hash ? 'user' : 'dummy');
        return bcrypt.compare(password, candidate);
      },
    });
    return { authenticator, calls };
  }

  it('accepts the right password (colons allowed) and runs bcrypt once for repeated checks', async () => {
    const { authenticator, calls } = counting();
    for (let index = 0; index < 5; index += 1) expect(await authenticator.check(header('prometheus', 'right: password'))).toBe('ok');
    expect(calls).toEqual(['user']);
  });

  it('refuses wrong passwords, unknown users (checked against a dummy hash) and other schemes', async () => {
    const { authenticator, calls } = counting();
    expect(await authenticator.check(header('prometheus', 'wrong'))).toBe('denied');
    expect(await authenticator.check(header('grafana', 'right: password'))).toBe('denied');
    expect(await authenticator.check(header('PROMETHEUS', 'right: password'))).toBe('denied');
    expect(await authenticator.check(undefined)).toBe('denied');
    expect(await authenticator.check('Bearer abc')).toBe('denied');
    expect(await authenticator.check('Basic !!!')).toBe('denied');
    expect(calls).toEqual(['user', 'dummy', 'dummy']);
    // A repeated wrong guess is answered from the cache too.
    expect(await authenticator.check(header('prometheus', 'wrong'))).toBe('denied');
    expect(calls).toHaveLength(3);
  });

  it('answers busy when too many checks are queued, instead of queueing without bound', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const authenticator = new BasicAuthenticator(new Map([['prometheus', hash]]), {
      maxWaiting: 2,
      compare: async () => {
        await gate;
        return false;
      },
    });
    const first = authenticator.check(header('prometheus', 'guess-1'));
    const second = authenticator.check(header('prometheus', 'guess-2'));
    expect(await authenticator.check(header('prometheus', 'guess-3'))).toBe('busy');
    release();
    expect(await Promise.all([first, second])).toEqual(['denied', 'denied']);
  });

  it('bounds its cache', async () => {
    const authenticator = new BasicAuthenticator(new Map([['prometheus', hash]]), { cacheSize: 3, compare: () => Promise.resolve(false) });
    for (let index = 0; index < 20; index += 1) await authenticator.check(header('prometheus', `guess-${index}`));
    expect((authenticator as unknown as { cache: Map<string, boolean> }).cache.size).toBe(3);
  });
});

describe('parseBasicCredentials', () => {
  it('splits at the first colon and decodes UTF-8', () => {
    expect(parseBasicCredentials(header('jörg', 'a:b:c'))).toEqual({ user: 'jörg', password: 'a:b:c' });
    expect(parseBasicCredentials(`basic ${Buffer.from('u:').toString('base64')}`)).toEqual({ user: 'u', password: '' });
    expect(parseBasicCredentials(`Basic ${Buffer.from('no-colon').toString('base64')}`)).toBeUndefined();
  });
});
