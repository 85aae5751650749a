import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './load.js';

function storage(section: unknown, readFile?: (path: string) => string) {
  return parseConfig(JSON.stringify({ storage: section }), { environment: { PG_URL: 'postgres://u:p@db/pne' }, readFile }).storage;
}

function problems(section: unknown): string[] {
  try {
    storage(section);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('storage backend config', () => {
  it('defaults to the SQLite file', () => {
    expect(storage({})).toMatchObject({ path: './data/state.db', postgres: undefined });
  });

  it('takes postgres with a connection string from the environment or a file, the replica ID defaulting to the host name', () => {
    expect(storage({ postgres: { connectionString: '${PG_URL}' } }).postgres).toEqual({ connectionString: 'postgres://u:p@db/pne', replicaId: hostname(), poolSize: 10 });
    const fromFile = storage({ postgres: { connectionStringFile: '/run/secrets/pg', replicaId: 'pod-1' } }, () => 'postgres://x@db/pne\n');
    expect(fromFile.postgres).toEqual({ connectionString: 'postgres://x@db/pne', replicaId: 'pod-1', poolSize: 10 });
  });

  it('refuses both backends at once, a bad replica ID and an empty connection string, naming the key', () => {
    expect(problems({ path: './state.db', postgres: { connectionString: 'postgres://db/pne' } }).join('\n')).toMatch(/storage: give exactly one of path \(SQLite\) and postgres/);
    expect(problems({ postgres: { connectionString: 'postgres://db/pne', replicaId: 'pod 1' } }).join('\n')).toMatch(/storage\.postgres\.replicaId: must be 1-64 characters/);
    expect(problems({ postgres: { connectionString: 'postgres://db/pne', replicaId: 'x'.repeat(65) } }).join('\n')).toMatch(/storage\.postgres\.replicaId/);
    expect(problems({ postgres: { connectionString: '' } }).join('\n')).toMatch(/storage\.postgres\.connectionString: must not be empty/);
    expect(problems({ postgres: { connectionString: 'postgres://db/pne', connectionStringFile: '/x' } }).join('\n')).toMatch(/give either connectionString or connectionStringFile/);
    expect(problems({ postgres: { connectionString: 'postgres://db/pne', host: 'db' } }).join('\n')).toMatch(/storage\.postgres\.host: unknown key/);
  });
});
