import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exporterArguments, healthTarget } from './healthcheck.js';

describe('the Docker health check finds where the exporter listens', () => {
  const folder = mkdtempSync(join(tmpdir(), 'pne-healthcheck-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));
  const config = (listen: string) => {
    const file = join(folder, `config-${listen.replace(/\W/g, '_')}.yaml`);
    writeFileSync(file, `server:\n  listen: "${listen}"\neverlive:\n  - {name: app, appId: app, masterKey: key}\n`);
    return file;
  };

  it('takes the arguments after main.js, whatever runs it (node, docker-init, tini)', () => {
    expect(exporterArguments(['node', '/app/dist/main.js', '--config', '/etc/x.yaml'])).toEqual(['--config', '/etc/x.yaml']);
    expect(exporterArguments(['/sbin/docker-init', '--', 'node', '/app/dist/main.js', '--demo'])).toEqual(['--demo']);
    expect(exporterArguments(['/bin/sh', '-c', 'sleep 1'])).toBeUndefined();
  });

  it("reads the port from the config's server.listen, on loopback when bound to every interface", () => {
    expect(healthTarget(['--config', config('0.0.0.0:9100')], '/').url).toBe('http://127.0.0.1:9100/-/healthy');
    expect(healthTarget([`--config.file=${config(':9101')}`], '/').url).toBe('http://127.0.0.1:9101/-/healthy');
    expect(healthTarget(['--config', config('[::]:9102')], '/').url).toBe('http://[::1]:9102/-/healthy');
    expect(healthTarget(['--config', config('127.0.0.2:9103')], '/').url).toBe('http://127.0.0.2:9103/-/healthy');
  });

  it('resolves a relative config path against the exporter\'s working directory', () => {
    const file = config('0.0.0.0:9104');
    expect(healthTarget(['--config', file.slice(folder.length + 1)], folder).url).toBe('http://127.0.0.1:9104/-/healthy');
  });

  it('lets a listen flag win over the config, and the demo default to 10130', () => {
    expect(healthTarget(['--config', config('0.0.0.0:9105'), '--web.listen-address', ':9200'], '/').url).toBe('http://127.0.0.1:9200/-/healthy');
    expect(healthTarget(['--demo', '--listen', '0.0.0.0:9300'], '/').url).toBe('http://127.0.0.1:9300/-/healthy');
    expect(healthTarget(['--demo'], '/').url).toBe('http://127.0.0.1:10130/-/healthy');
  });
});
