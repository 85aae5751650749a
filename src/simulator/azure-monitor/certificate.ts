import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ThrowawayCertificate {
  cert: string;
  key: string;
  certFile: string;
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost, valid two days, made with the openssl
 * command line in `folder`. The Azure SDKs and MSAL talk only https to an authority and never send
 * a bearer token over http, so the fake Entra ID and ARM need one; whoever talks to them trusts it
 * explicitly (the credential's and undici's `ca`, or NODE_EXTRA_CA_CERTS for another process).
 * Throws with the reason when openssl is missing.
 */
export function makeThrowawayCertificate(folder: string): ThrowawayCertificate {
  const certFile = join(folder, 'azure-monitor-simulator.crt');
  const keyFile = join(folder, 'azure-monitor-simulator.key');
  try {
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
        '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-keyout', keyFile, '-out', certFile,
      ],
      { stdio: 'ignore', timeout: 30_000 },
    );
  } catch (error) {
    throw new Error(`cannot make a throwaway certificate with openssl (${(error as NodeJS.ErrnoException).code ?? String(error)}); install openssl`);
  }
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile };
}
