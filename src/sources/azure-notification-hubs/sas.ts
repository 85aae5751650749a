import { createHmac } from 'node:crypto';
import type { Clock } from '../../time/clock.js';

/**
 * Shared Access Signature tokens for Service Bus / Notification Hubs.
 * https://learn.microsoft.com/azure/service-bus-messaging/service-bus-sas#generate-a-shared-access-signature-token
 *
 * sr  = encodeURIComponent(resourceUri.toLowerCase())
 * sig = encodeURIComponent(base64(HMAC-SHA256(key = UTF-8 bytes of the SharedAccessKey string, sr + "\n" + se)))
 * The key is used as text, never base64-decoded: that is what the service does.
 */
export function createSasToken(input: {
  resourceUri: string;
  keyName: string;
  key: string;
  expiresAtSeconds: number;
}): string {
  const encodedResource = encodeURIComponent(input.resourceUri.toLowerCase());
  const signature = signSas(encodedResource, input.expiresAtSeconds, input.key);
  return (
    `SharedAccessSignature sr=${encodedResource}&sig=${encodeURIComponent(signature)}` +
    `&se=${input.expiresAtSeconds}&skn=${encodeURIComponent(input.keyName)}`
  );
}

/** base64 HMAC-SHA256 of `encodedResource + "\n" + expiry`; shared with the simulator's verifier. */
export function signSas(encodedResource: string, expiresAtSeconds: number, key: string): string {
  return createHmac('sha256', Buffer.from(key, 'utf8'))
    .update(`${encodedResource}\n${expiresAtSeconds}`, 'utf8')
    .digest('base64');
}

export interface SasTokenProviderOptions {
  resourceUri: string;
  keyName: string;
  key: string;
  clock: Clock;
  /** How long a fresh token is valid. */
  validityMilliseconds?: number;
  /** A token with less than this left is replaced before use. */
  renewBeforeMilliseconds?: number;
}

/** Caches one token per resource and renews it well before it expires. */
export class SasTokenProvider {
  private cached: { header: string; expiresAt: number } | undefined;
  private readonly validity: number;
  private readonly renewBefore: number;

  constructor(private readonly options: SasTokenProviderOptions) {
    this.validity = options.validityMilliseconds ?? 60 * 60_000;
    this.renewBefore = options.renewBeforeMilliseconds ?? 5 * 60_000;
  }

  authorizationHeader(): string {
    const now = this.options.clock.now();
    if (!this.cached || this.cached.expiresAt - now < this.renewBefore) {
      const expiresAtSeconds = Math.floor((now + this.validity) / 1000);
      this.cached = {
        header: createSasToken({
          resourceUri: this.options.resourceUri,
          keyName: this.options.keyName,
          key: this.options.key,
          expiresAtSeconds,
        }),
        expiresAt: expiresAtSeconds * 1000,
      };
    }
    return this.cached.header;
  }
}
