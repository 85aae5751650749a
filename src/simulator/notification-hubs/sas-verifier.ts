import { timingSafeEqual } from 'node:crypto';
import { signSas } from '../../sources/azure-notification-hubs/sas.js';

/**
 * Verifies a SharedAccessSignature header the way Service Bus does: known key name, not expired,
 * `sr` a prefix (on a path boundary) of the requested resource's https URI, and an exact signature.
 * Returns undefined when valid, otherwise why not (the simulator answers 401 with it).
 */
export function verifySasHeader(input: {
  header: string | undefined;
  resourceUri: string;
  keys: ReadonlyMap<string, string>;
  nowSeconds: number;
}): string | undefined {
  const { header } = input;
  if (!header) return 'MissingToken: the Authorization header is missing';
  const prefix = 'SharedAccessSignature ';
  if (!header.startsWith(prefix)) return 'InvalidToken: not a SharedAccessSignature';
  const fields = new Map<string, string>();
  for (const part of header.slice(prefix.length).split('&')) {
    const separator = part.indexOf('=');
    if (separator > 0) fields.set(part.slice(0, separator), part.slice(separator + 1));
  }
  const encodedResource = fields.get('sr');
  const encodedSignature = fields.get('sig');
  const expiry = fields.get('se');
  const keyName = fields.get('skn');
  if (!encodedResource || !encodedSignature || !expiry || !keyName) return 'InvalidToken: sr, sig, se and skn are required';
  const key = input.keys.get(decodeURIComponent(keyName));
  if (key === undefined) return 'InvalidToken: unknown SharedAccessKeyName';
  if (!/^\d+$/.test(expiry)) return 'InvalidToken: se is not a number';
  if (Number(expiry) <= input.nowSeconds) return 'ExpiredToken: the token has expired';
  if (encodedResource !== encodedResource.toLowerCase().replace(/%[0-9a-f]{2}/g, (escape) => escape.toUpperCase())) {
    return 'InvalidToken: sr must be the lower-cased, URI-encoded resource';
  }
  const signedResource = decodeURIComponent(encodedResource);
  const requested = input.resourceUri.toLowerCase();
  if (!(requested === signedResource || requested.startsWith(signedResource.replace(/\/?$/, '/')))) {
    return 'InvalidAudience: the token is not for this resource';
  }
  const expected = Buffer.from(signSas(encodedResource, Number(expiry), key));
  let presented: Buffer;
  try {
    presented = Buffer.from(decodeURIComponent(encodedSignature));
  } catch {
    return 'InvalidSignature: sig is not URI-encoded';
  }
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
    return 'InvalidSignature: the signature does not match';
  }
  return undefined;
}
