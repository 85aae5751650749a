import { spawnSync } from 'node:child_process';

/**
 * promtool comes from Debian's `prometheus` package, which .ci/run installs. Locally a test that
 * needs it is skipped with a message when it is absent; under CI=true it fails instead.
 */
export function promtoolAvailable(): boolean {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
  if (!found && process.env.CI === 'true') throw new Error('promtool is required in CI: install the prometheus package');
  if (!found) process.stderr.write('promtool not found: skipping promtool checks (apt-get install prometheus)\n');
  return found;
}

export function runPromtool(args: string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { input, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/**
 * The first of `names` that runs (`name --version`), for the other Debian-packaged tools: Debian's
 * prometheus-alertmanager package installs `prometheus-alertmanager`, upstream builds `alertmanager`.
 * Absent: undefined with a skip message locally; under CI=true an error, so CI never skips silently.
 */
export function locateTool(names: readonly string[], aptPackage: string): string | undefined {
  const found = names.find((name) => spawnSync(name, ['--version'], { encoding: 'utf8' }).status === 0);
  if (found) return found;
  const message = `${names.join(' or ')} not found (apt-get install ${aptPackage})`;
  if (process.env.CI === 'true') throw new Error(`${message}: it is required in CI`);
  process.stderr.write(`${message}: skipping the tests that need it\n`);
  return undefined;
}
