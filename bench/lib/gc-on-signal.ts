/**
 * Preloaded (node --expose-gc --import) into the exporter process by the footprint phase only: on
 * SIGUSR2 it prints the memory usage, forces a full GC, and prints it again, on stdout as one JSON line.
 */
process.on('SIGUSR2', () => {
  const before = process.memoryUsage();
  (globalThis as { gc?: () => void }).gc?.();
  const after = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ memory: { before, after } })}\n`);
});
