import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join, posix } from 'node:path';

/**
 * Reading a Dockerfile and running its stages in folders, for machines without a Docker engine: each
 * stage gets a folder that stands for its image's root, COPY copies from the build context (or an
 * earlier stage's folder), RUN runs in the stage's WORKDIR. Enough for this repository's Dockerfile,
 * not a general implementation: instructions it does not know fail the test.
 */

export interface Instruction {
  keyword: string;
  text: string;
}

export interface Stage {
  name: string;
  instructions: Instruction[];
}

/** Stages in order; continuation lines joined, comments and parser directives dropped. */
export function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const text = rest.join(' ');
    if (keyword === 'FROM') {
      stages.push({ name: /\bAS\s+(\S+)$/i.exec(text)?.[1] ?? String(stages.length), instructions: [] });
      continue;
    }
    if (keyword === 'ARG' && stages.length === 0) continue;
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${keyword} before FROM`);
    stage.instructions.push({ keyword, text });
  }
  return stages;
}

/** A JSON-array (exec form) argument, as in CMD ["node", "x"]. */
export function execForm(text: string): string[] {
  return JSON.parse(text) as string[];
}

export interface StageRunOptions {
  /** The build context (COPY sources). */
  context: string;
  /** Folders of earlier stages, by name (COPY --from). */
  stages: ReadonlyMap<string, string>;
  /** Runs a RUN instruction; return false to run it as written (sh -c in the WORKDIR). */
  run?: (command: string, workingDirectory: string) => boolean;
  env?: NodeJS.ProcessEnv;
}

export interface StageResult {
  root: string;
  workingDirectory: string;
  /** What the image would keep: USER, VOLUME, EXPOSE, HEALTHCHECK, ENTRYPOINT, CMD, ENV. */
  metadata: Map<string, string>;
}

/** A path inside the image, as a path inside the stage's folder. */
export function inImage(root: string, path: string): string {
  return join(root, path);
}

export function runStage(stage: Stage, root: string, options: StageRunOptions): StageResult {
  let workingDirectory = '/';
  const metadata = new Map<string, string>();
  mkdirSync(root, { recursive: true });
  for (const { keyword, text } of stage.instructions) {
    switch (keyword) {
      case 'WORKDIR':
        workingDirectory = posix.resolve(workingDirectory, text);
        mkdirSync(inImage(root, workingDirectory), { recursive: true });
        break;
      case 'COPY': {
        const from = /^--from=(\S+)\s+/.exec(text);
        const sources = (from ? text.slice(from[0].length) : text).split(/\s+/);
        const written = sources.pop() as string;
        const destination = posix.resolve(workingDirectory, written);
        const sourceRoot = from ? options.stages.get(from[1] as string) : options.context;
        if (sourceRoot === undefined) throw new Error(`COPY --from an unknown stage: ${text}`);
        for (const source of sources) {
          // Context paths are relative to the context; --from paths are absolute in that stage.
          const sourcePath = join(sourceRoot, posix.resolve('/', source));
          // Several sources, or a destination ending in /, go into that folder.
          const target = sources.length > 1 || written.endsWith('/') ? posix.join(destination, posix.basename(source)) : destination;
          mkdirSync(dirname(inImage(root, target)), { recursive: true });
          cpSync(sourcePath, inImage(root, target), { recursive: true, verbatimSymlinks: true });
        }
        break;
      }
      case 'RUN': {
        const cwd = inImage(root, workingDirectory);
        if (options.run?.(text, cwd)) break;
        const result = spawnSync('sh', ['-c', text], { cwd, env: options.env ?? process.env, encoding: 'utf8' });
        if (result.status !== 0) throw new Error(`RUN ${text} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
        break;
      }
      case 'ENV':
      case 'LABEL':
      case 'ARG':
      case 'USER':
      case 'VOLUME':
      case 'EXPOSE':
      case 'HEALTHCHECK':
      case 'ENTRYPOINT':
      case 'CMD':
        metadata.set(keyword, keyword === 'ENV' || keyword === 'LABEL' ? [metadata.get(keyword), text].filter(Boolean).join('\n') : text);
        break;
      default:
        throw new Error(`unsupported instruction ${keyword} ${text}`);
    }
  }
  return { root, workingDirectory, metadata };
}

/** An absolute path in an argument list, moved into the stage's folder (as the image would see it). */
export function mapArguments(root: string, args: readonly string[]): string[] {
  return args.map((argument) => (isAbsolute(argument) && argument !== '/' ? inImage(root, argument) : argument));
}
