import { getHeapSpaceStatistics } from 'node:v8';

/**
 * Preloaded (node --expose-gc --import) into the exporter process by the footprint phase only: on
 * SIGUSR2 it prints the memory usage, forces a full GC, and prints it again, on stdout as one JSON
 * line; with the sizes of V8's heap spaces (before the GC: new_space is what the young generation
 * holds while the process runs) and the CPU the process has used so far.
 */
process.on('SIGUSR2', () => {
  const before = process.memoryUsage();
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size]));
  const cpu = process.cpuUsage();
  (globalThis as { gc?: () => void }).gc?.();
  const after = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ memory: { before, after, spaces, cpuMicroseconds: cpu.user + cpu.system } })}\n`);
});
