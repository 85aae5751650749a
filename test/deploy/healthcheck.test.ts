import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ExporterProcess } from '../support/exporter-process.js';
import { freePort } from '../support/prometheus-stack.js';
import { generateSelfSignedCertificate } from '../support/tls.js';

/**
 * The Docker image's HEALTHCHECK (dist/healthcheck.js) against the built exporter as a real process
 * on a port that is not 10130, plain and with TLS: it must find the port in the exporter's command
 * line and config, as Docker would run it (HEALTHCHECK_PID stands for PID 1 of the container).
 */

const healthcheckScript = fileURLToPath(new URL('../../dist/healthcheck.js', import.meta.url));

describe('the Docker health check on the running exporter', () => {
  const folder = mkdtempSync(join(tmpdir(), 'pne-health-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  async function check(webConfig?: string): Promise<void> {
    const port = await freePort();
    expect(port).not.toBe(10130);
    const name = webConfig ? 'tls' : 'plain';
    const config = join(folder, `${name}.yaml`);
    writeFileSync(
      config,
      [
        'server:',
        `  listen: "127.0.0.1:${port}"`,
        ...(webConfig ? [`  webConfigFile: ${webConfig}`] : []),
        'storage:',
        `  path: ${join(folder, `${name}.db`)}`,
        'everlive:',
        '  - {name: app, appId: app, masterKey: key, endpoint: "http://127.0.0.1:9", schedule: "0 0 1 1 *"}',
        '',
      ].join('\n'),
    );
    const exporter = ExporterProcess.start(['--config', config]);
    const runCheck = () => spawnSync(process.execPath, [healthcheckScript], { env: { ...process.env, HEALTHCHECK_PID: String(exporter.child.pid) }, encoding: 'utf8' });
    try {
      await exporter.waitForStart();
      const healthy = runCheck();
      expect(healthy.status, healthy.stderr).toBe(0);
    } finally {
      exporter.kill('SIGTERM');
      await exporter.exit();
    }
    const gone = runCheck();
    expect(gone.status).toBe(1);
    expect(gone.stderr).toMatch(/^unhealthy: /);
  }

  it('is healthy on the port of server.listen, and unhealthy once the exporter is gone', async () => {
    await check();
  });

  it('asks over HTTPS when the web config has TLS (without verifying the certificate)', async () => {
    const certificate = generateSelfSignedCertificate(folder, 'exporter');
    const webConfig = join(folder, 'web.yml');
    writeFileSync(webConfig, `tls_server_config:\n  cert_file: ${certificate.certFile}\n  key_file: ${certificate.keyFile}\n`);
    await check(webConfig);
  });
});
