import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

type Manifest = { kind: string; metadata: { name: string }; spec?: Record<string, unknown>; data?: Record<string, string> };

describe('Kubernetes manifest', () => {
  const documents = parseAllDocuments(read('deploy/kubernetes/push-notification-exporter.yaml')).map((document) => {
    expect(document.errors).toEqual([]);
    return document.toJS() as Manifest;
  });
  const byKind = (kind: string) => documents.find((document) => document.kind === kind) as Manifest;

  it('runs two replicas with rolling updates, a disruption budget, probes and the replica ID from the pod name', () => {
    const deployment = byKind('Deployment').spec as {
      replicas: number;
      strategy: { type: string; rollingUpdate: { maxUnavailable: number } };
      template: { spec: { containers: Record<string, unknown>[]; volumes: Record<string, unknown>[]; securityContext: Record<string, unknown> } };
    };
    expect(deployment.replicas).toBe(2);
    expect(deployment.strategy).toMatchObject({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0 } });
    const [container] = deployment.template.spec.containers as [
      { readinessProbe: { httpGet: { path: string } }; livenessProbe: { httpGet: { path: string } }; env: unknown[]; envFrom: unknown[] },
    ];
    expect(container.readinessProbe.httpGet.path).toBe('/-/ready');
    expect(container.livenessProbe.httpGet.path).toBe('/-/healthy');
    expect(container.env).toContainEqual({ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    expect(container.envFrom).toContainEqual({ secretRef: { name: byKind('Secret').metadata.name } });
    expect(deployment.template.spec.securityContext.runAsNonRoot).toBe(true);
    // The state is in PostgreSQL: no volume claim to pin a pod to a node.
    expect(documents.some((document) => document.kind === 'PersistentVolumeClaim')).toBe(false);
    const budget = byKind('PodDisruptionBudget').spec as { minAvailable: number; selector: { matchLabels: Record<string, string> } };
    expect(budget.minAvailable).toBe(1);
    expect(budget.selector.matchLabels).toEqual((byKind('Deployment').spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels);
  });

  it('ships a config the exporter accepts, on PostgreSQL from the Secret, named after the pod', () => {
    const secret = byKind('Secret') as unknown as { stringData: Record<string, string> };
    expect(secret.stringData.PG_URL).toMatch(/^postgres:\/\//);
    const config = parseConfig(byKind('ConfigMap').data?.['config.yaml'] as string, {
      environment: {
        ...secret.stringData,
        POD_NAME: 'push-notification-exporter-5d8f7c9b6-x2x7k',
        NH_CONNECTION_STRING: 'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=k',
      },
    });
    expect(config.storage.postgres).toMatchObject({ connectionString: secret.stringData.PG_URL, replicaId: 'push-notification-exporter-5d8f7c9b6-x2x7k' });
    expect(config.server.listen).toEqual({ host: '0.0.0.0', port: 10130 });
  });
});

describe('Node.js flags', () => {
  it('npm start, the image and the systemd unit run Node.js with the same flags, the small young generation among them', () => {
    // The benchmark's exporter processes take theirs from npm start (bench/lib/exporter-process.ts).
    const flagsBefore = (command: readonly string[], script: string) => command.slice(1, command.indexOf(script));
    const start = (JSON.parse(read('package.json')) as { scripts: { start: string } }).scripts.start.split(' ');
    const flags = flagsBefore(start, 'dist/main.js');
    expect(start[0]).toBe('node');
    expect(flags).toContain('--max-semi-space-size=8');
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'))?.[1] ?? '[]') as string[];
    expect(entrypoint[0]).toBe('node');
    expect(flagsBefore(entrypoint, '/app/dist/main.js')).toEqual(flags);
    const execStart = /^ExecStart=(.+)$/m.exec(read('deploy/systemd/push-notification-exporter.service'))?.[1]?.split(' ') ?? [];
    expect(execStart[0]).toBe('/usr/bin/node');
    expect(flagsBefore(execStart, '/opt/push-notification-exporter/dist/main.js')).toEqual(flags);
  });
});

describe('systemd unit', () => {
  it('runs the built exporter with a config, stops with SIGTERM and restarts on failure', () => {
    const unit = read('deploy/systemd/push-notification-exporter.service');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node (--\S+ )*\/opt\/push-notification-exporter\/dist\/main\.js --config \S+$/m);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^StateDirectory=push-notification-exporter$/m);
  });

  it('is installed with steps that can work: build with the dev dependencies (tsc), then drop them', () => {
    // test/deploy/install.test.ts runs them; this only keeps README and the unit saying the same.
    const unit = read('deploy/systemd/push-notification-exporter.service');
    const readme = /^### systemd\n([\s\S]*?)^#{2,3} /m.exec(read('README.md'))?.[1] ?? '';
    const step = 'npm ci && npm run build && npm prune --omit=dev';
    expect(readme).toContain(`\n${step}\n`);
    expect(unit).toContain(`#   ${step}\n`);
    for (const text of [readme, unit]) expect(text).not.toMatch(/npm ci --omit=dev && npm run build/);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('builds in one stage and runs production dependencies only, without a compiler, as a non-root user', () => {
    expect(stages).toHaveLength(2);
    const [build, runtime] = stages as [string, string];
    expect(build).toMatch(/RUN npm ci\n/);
    expect(build).toMatch(/RUN npm run build/);
    // Pruned after the build: a second npm ci --omit=dev would compile better-sqlite3 again.
    expect(build).toMatch(/RUN npm prune --omit=dev\n/);
    expect(runtime).not.toMatch(/apt-get|g\+\+|make/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^VOLUME \["\/data"\]$/m);
    expect(runtime).toMatch(/^EXPOSE 10130$/m);
    expect(runtime).toMatch(/org\.opencontainers\.image\.title/);
  });

  it('keeps the default storage.path on the volume: ./data/state.db from the last WORKDIR is /data/state.db', () => {
    const runtime = stages[1] as string;
    const workdirs = [...runtime.matchAll(/^WORKDIR (\S+)$/gm)].map((match) => match[1] as string);
    const workdir = workdirs.reduce((current, next) => posix.resolve(current, next), '/');
    const config = parseConfig(JSON.stringify({ everlive: [{ name: 'app', appId: 'app', masterKey: 'key' }] }));
    expect(config.storage.path).toBe('./data/state.db');
    expect(posix.resolve(workdir, config.storage.path)).toBe('/data/state.db');
  });

  it('asks the health endpoint on the port the exporter was given, not a fixed 10130', () => {
    const healthcheck = /^HEALTHCHECK (.*)$/m.exec((stages[1] as string).replace(/\\\n\s*/g, ''))?.[1] ?? '';
    expect(healthcheck).toMatch(/CMD \["node", "\/app\/dist\/healthcheck\.js"\]$/);
    expect(healthcheck).not.toContain('10130');
  });

  it("carries of better-sqlite3 only what runs: its build stage removes the addon's sources, deps/ and object files", () => {
    const [build, runtime] = stages as [string, string];
    expect(build).toMatch(/RUN cd node_modules\/better-sqlite3 \\\n(.*\n)*.*rm -rf build deps src binding\.gyp/);
    // ...before the runtime stage copies node_modules (a RUN rm there would leave them in a lower layer).
    expect(runtime).toMatch(/^COPY --from=build \/app\/node_modules \.\/node_modules$/m);
    expect(runtime).not.toMatch(/^RUN .*rm /m);
  });

  it('copies only what exists, and the context leaves out local state', () => {
    for (const [, source] of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const path of (source as string).split(' ')) expect(existsSync(new URL(`../../${path}`, import.meta.url)), path).toBe(true);
    }
    const ignored = read('.dockerignore').split('\n');
    for (const entry of ['node_modules', 'dist', 'data', '.git']) expect(ignored).toContain(entry);
  });
});
