import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ThrowawayCertificate {
  keyPath: string;
  certPath: string;
}

/**
 * A self-signed certificate for 127.0.0.1, valid for one day, made with openssl in `folder` (a temp
 * folder the caller deletes). Only the benchmark's own processes trust it, through
 * NODE_EXTRA_CA_CERTS; hostname verification stays on. Returns the reason if openssl is missing.
 */
export function makeThrowawayCertificate(folder: string): ThrowawayCertificate | { error: string } {
  const keyPath = join(folder, 'simulator-key.pem');
  const certPath = join(folder, 'simulator-cert.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
        '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', keyPath, '-out', certPath,
      ],
      { stdio: 'ignore', timeout: 30_000 },
    );
    readFileSync(certPath);
    return { keyPath, certPath };
  } catch (error) {
    return { error: `cannot make a throwaway certificate with openssl (${(error as NodeJS.ErrnoException).code ?? String(error)}); install openssl` };
  }
}
