import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TurnBufferedStream } from './turn-buffer.js';

const turn = () => new Promise((resolve) => setImmediate(resolve));
const urgent = (line: string) => line.includes('"level":"warn"') || line.includes('"level":"error"');

describe('TurnBufferedStream', () => {
  it('writes the lines of one turn in one write, at the end of that turn', async () => {
    const writes: string[] = [];
    const stream = new TurnBufferedStream({ write: (text: string) => writes.push(text) }, urgent);
    stream.write('{"level":"info","msg":"a"}\n');
    stream.write('{"level":"info","msg":"b"}\n');
    expect(writes).toEqual([]);
    await turn();
    expect(writes).toEqual(['{"level":"info","msg":"a"}\n{"level":"info","msg":"b"}\n']);
    stream.write('{"level":"info","msg":"c"}\n');
    await turn();
    expect(writes).toHaveLength(2);
  });

  it('writes a warning at once, after the lines held before it', () => {
    const writes: string[] = [];
    const stream = new TurnBufferedStream({ write: (text: string) => writes.push(text) }, urgent);
    stream.write('{"level":"info","msg":"a"}\n');
    stream.write('{"level":"warn","msg":"b"}\n');
    expect(writes).toEqual(['{"level":"info","msg":"a"}\n{"level":"warn","msg":"b"}\n']);
  });

  it('loses no line when the process exits in the same turn (process.exit, the end of the script)', () => {
    const logger = pathToFileURL(fileURLToPath(new URL('../../dist/logging/logger.js', import.meta.url))).href;
    for (const [format, ending] of [
      ['json', 'process.exit(3)'],
      ['logfmt', ''],
    ]) {
      const script = `import { createLogger } from ${JSON.stringify(logger)};
        const logger = createLogger({ level: 'info', format: '${format}' });
        for (let index = 0; index < 3; index += 1) logger.info({ index }, 'routine line');
        ${ending}`;
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines.every((line) => line.includes('routine line'))).toBe(true);
    }
  });
});
