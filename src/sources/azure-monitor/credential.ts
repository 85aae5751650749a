import type { TokenCredential } from '@azure/identity';
import type { AzureMonitorTarget } from '../../config/load.js';
import { UpstreamHttpError, UpstreamNetworkError, type UpstreamError } from '../shared/upstream-errors.js';

/** The @azure/identity module, as loaded by loadIdentity(). */
export type Identity = typeof import('@azure/identity');

/**
 * @azure/identity (MSAL with it) costs about 6 MB of heap, and more of RSS, once imported; only
 * Azure Monitor targets use it, so it is imported when the source has targets, not at start-up.
 */
export function loadIdentity(): Promise<Identity> {
  return import('@azure/identity');
}

export interface TrustOptions {
  /** PEM certificates to trust instead of the system's (the simulator's throwaway certificate). */
  ca?: string;
}

/**
 * The Microsoft Entra ID credential of a target: a service principal when a client secret is
 * configured; otherwise workload identity (Kubernetes, when AZURE_FEDERATED_TOKEN_FILE is set), or
 * the managed identity of the machine. Instance discovery is off: MSAL then asks the configured
 * authority itself (its OpenID configuration) instead of the public cloud's discovery endpoint,
 * which sovereign clouds and the simulator need.
 * https://learn.microsoft.com/javascript/api/@azure/identity/clientsecretcredentialoptions
 */
export function createCredential(identity: Identity, target: AzureMonitorTarget, trust: TrustOptions = {}): TokenCredential {
  const common = {
    authorityHost: target.authorityHost,
    disableInstanceDiscovery: true,
    ...(trust.ca ? { tlsOptions: { ca: trust.ca } } : {}),
  };
  if (target.clientSecret !== undefined) {
    return new identity.ClientSecretCredential(target.tenantId as string, target.clientId as string, target.clientSecret, common);
  }
  if (process.env.AZURE_FEDERATED_TOKEN_FILE) {
    return new identity.WorkloadIdentityCredential({ ...common, tenantId: target.tenantId, clientId: target.clientId });
  }
  return target.clientId ? new identity.ManagedIdentityCredential({ ...common, clientId: target.clientId }) : new identity.ManagedIdentityCredential(common);
}

/** A token request refused by Entra ID (wrong, expired or unknown credentials). */
export class TokenRefusedError extends UpstreamHttpError {
  override name = 'TokenRefusedError';
  override readonly operation = 'get_token';

  override get rejectsCredentials(): boolean {
    // Entra ID answers 401 invalid_client for a wrong or expired secret, 400 for an unknown tenant
    // or client: either way the credentials are what is wrong, not the request.
    return this.status === 400 || this.status === 401;
  }
}

export class TokenUnavailableError extends UpstreamNetworkError {
  override name = 'TokenUnavailableError';
  override readonly operation = 'get_token';
}

/**
 * What a failed getToken means, without its message: MSAL messages can carry trace and correlation
 * IDs and, for some errors, parts of the request. Only the OAuth error code and AADSTS numbers are kept.
 */
export function classifyTokenError(identity: Identity, error: unknown): UpstreamError {
  const { AuthenticationError, AuthenticationRequiredError, CredentialUnavailableError } = identity;
  if (error instanceof AuthenticationError) {
    const response = error.errorResponse;
    const codes = Array.isArray(response?.errorCodes) ? response.errorCodes.filter((code: number) => Number.isInteger(code)).slice(0, 3) : [];
    const oauthError = typeof response?.error === 'string' && /^[a-z_]{1,64}$/.test(response.error) ? response.error : 'error';
    const detail = `Entra ID: ${oauthError}${codes.length > 0 ? ` (${codes.map((code: number) => `AADSTS${code}`).join(', ')})` : ''}`;
    return new TokenRefusedError(error.statusCode, undefined, detail);
  }
  if (error instanceof AuthenticationRequiredError) {
    // How @azure/identity passes on MSAL's ServerError for a refused client-credentials request:
    // no status, a message "invalid_client: … AADSTS7000215: …". Keep the OAuth code and the numbers;
    // the status is the one RFC 6749 section 5.2 gives that code (401 for invalid_client, else 400).
    const oauthError = /^([a-z_]{1,64}):/.exec(error.message)?.[1];
    if (oauthError) {
      const codes = [...new Set(error.message.match(/AADSTS\d{1,9}/g) ?? [])].slice(0, 3);
      const detail = `Entra ID: ${oauthError}${codes.length > 0 ? ` (${codes.join(', ')})` : ''}`;
      return new TokenRefusedError(oauthError === 'invalid_client' ? 401 : 400, undefined, detail);
    }
  }
  if (error instanceof CredentialUnavailableError) {
    // An untrusted certificate surfaces only as endpoints_resolution_error.
    const hint = /endpoints_resolution_error/.test(error.message) ? 'endpoints_resolution_error (authority unreachable or its certificate not trusted)' : 'credential unavailable';
    return new TokenUnavailableError(`cannot get a token from Entra ID: ${hint}`);
  }
  return new TokenUnavailableError(`cannot get a token from Entra ID: ${(error as Error)?.name ?? 'error'}`);
}
