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
