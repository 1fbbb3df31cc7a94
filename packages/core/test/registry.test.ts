import { afterEach, describe, expect, it } from 'vitest';
import { LTMError } from '../src/errors.js';
import { MemoryBackend } from '../src/memory-backend.js';
import { parseLtmSettings } from '../src/config.js';
import {
  backendOptionKeys,
  createLTMBackend,
  createLTMBackendFromSettings,
  listBackends,
  registerBackend,
  resolveBackendOptions,
  unregisterBackend,
} from '../src/registry.js';
import type { LTMBackend } from '../src/types.js';

const registered: string[] = [];

/** Registers a test backend that records the options its factory received. */
function registerRecording(name: string, optionKeys: string[]): Array<Record<string, unknown>> {
  const calls: Array<Record<string, unknown>> = [];
  registerBackend(
    name,
    async (options) => {
      calls.push(options);
      return new MemoryBackend();
    },
    { optionKeys },
  );
  registered.push(name);
  return calls;
}

async function rejection(promise: Promise<unknown>): Promise<LTMError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(LTMError);
  return error as LTMError;
}

afterEach(() => {
  for (const name of registered.splice(0)) unregisterBackend(name);
});

describe('the memory backend', () => {
  it('is registered and opens asynchronously', async () => {
    expect(listBackends()).toContainEqual({ name: 'memory', optionKeys: ['maxValueBytes'] });
    const promise = createLTMBackend('memory');
    expect(promise).toBeInstanceOf(Promise);
    const backend = await promise;
    expect(backend).toBeInstanceOf(MemoryBackend);
    expect(backend.name).toBe('memory');
    expect(await backend.store('k', { a: 1 })).toMatchObject({ success: true, created: true });
    expect(await backend.retrieve('k')).toMatchObject({ found: true, value: { a: 1 } });
    await backend.close();
  });

  it('finds the name whatever its case or surrounding spaces', async () => {
    for (const name of ['MEMORY', 'Memory', ' memory ']) {
      const backend = await createLTMBackend(name);
      expect(backend).toBeInstanceOf(MemoryBackend);
      await backend.close();
    }
  });

  it('takes maxValueBytes in camelCase or snake_case', async () => {
    for (const options of [{ maxValueBytes: 8 }, { max_value_bytes: 8 }]) {
      const backend = await createLTMBackend('memory', options);
      expect(await backend.store('k', '123456')).toMatchObject({ success: true });
      expect(await backend.store('k', '1234567')).toMatchObject({ success: false, errorType: 'validation_error' });
      await backend.close();
    }
  });

  it('rejects (does not throw) with the backend error when opening fails', async () => {
    const error = await rejection(createLTMBackend('memory', { maxValueBytes: -1 }));
    expect(error.errorType).toBe('validation_error');
    expect(error.message).toMatch(/maxValueBytes/);
  });
});

describe('unknown backends', () => {
  it('are a validation_error that lists the registered backends and how to register one', async () => {
    registerRecording('zeta', []);
    const promise = createLTMBackend('nosuch');
    expect(promise).toBeInstanceOf(Promise);
    const error = await rejection(promise);
    expect(error.errorType).toBe('validation_error');
    expect(error.message).toContain('"nosuch"');
    expect(error.message).toContain('Registered backends: memory, zeta');
    expect(error.message).toContain("import '@ltm/backend-duckdb'");
  });

  it('name the package to import for a first-party backend that is not loaded', async () => {
    const error = await rejection(createLTMBackend('DuckDB', { uri: ':memory:' }));
    expect(error.errorType).toBe('dependency_missing');
    expect(error.message).toContain("import '@ltm/backend-duckdb'");
    expect(error.message).toContain('memory');
  });

  it('reject a name that is not a non-empty string', async () => {
    for (const name of ['', '   ', 42 as unknown as string]) {
      expect((await rejection(createLTMBackend(name))).errorType).toBe('validation_error');
    }
  });
});

describe('option keys', () => {
  const duckKeys = ['uri', 'tableName', 'enableFts', 's3Region', 'maxValueBytes'];

  it('reach the factory in camelCase, from either spelling, without undefined members', async () => {
    const calls = registerRecording('fakeduck', duckKeys);
    const backend = await createLTMBackend('fakeduck', {
      uri: 'x.duckdb',
      table_name: 'cache',
      enableFts: false,
      s3_region: 'eu-west-1',
      maxValueBytes: undefined,
    });
    await backend.close();
    expect(calls).toEqual([{ uri: 'x.duckdb', tableName: 'cache', enableFts: false, s3Region: 'eu-west-1' }]);
  });

  it('reject an unknown key, naming the valid keys and the closest one in the spelling used', async () => {
    registerRecording('fakeduck', duckKeys);
    const camel = await rejection(createLTMBackend('fakeduck', { uri: 'x', tableNmae: 'cache' }));
    expect(camel.errorType).toBe('validation_error');
    expect(camel.message).toContain('tableNmae (did you mean tableName?)');
    expect(camel.message).toContain('Valid keys: uri, tableName, enableFts, s3Region, maxValueBytes');

    const snake = await rejection(createLTMBackend('fakeduck', { tabel_name: 'cache' }));
    expect(snake.message).toContain('tabel_name (did you mean table_name?)');

    const region = await rejection(createLTMBackend('fakeduck', { region: 'eu-west-1' }));
    expect(region.message).toContain('region (did you mean s3Region?)');
  });

  it('report every unknown key at once, without a suggestion when nothing is close', async () => {
    registerRecording('fakeduck', duckKeys);
    const error = await rejection(createLTMBackend('fakeduck', { colour: 'blue', enable_fst: true }));
    expect(error.message).toContain('unknown keys for LTM backend "fakeduck": colour, enable_fst (did you mean enable_fts?)');
    expect(error.message).not.toContain('colour (did you mean');
  });

  it('refuse a key given in both spellings', async () => {
    registerRecording('fakeduck', duckKeys);
    const error = await rejection(createLTMBackend('fakeduck', { table_name: 'a', tableName: 'a' }));
    expect(error.errorType).toBe('validation_error');
    expect(error.message).toContain('both table_name and tableName');
  });

  it('must be given as an object', async () => {
    const error = await rejection(createLTMBackend('memory', 'maxValueBytes=8' as unknown as object));
    expect(error.errorType).toBe('validation_error');
    expect(error.message).toContain('options must be an object, got string');
  });

  it('never print option values in errors', async () => {
    registerRecording('fakeduck', duckKeys);
    const error = await rejection(createLTMBackend('fakeduck', { s3_secret: 'hunter2-very-secret' }));
    expect(error.message).not.toContain('hunter2');
  });

  it('are checked by resolveBackendOptions with snake_case listing for YAML', () => {
    registerRecording('fakeduck', duckKeys);
    expect(resolveBackendOptions('FakeDuck', { enable_fts: true })).toEqual([
      { key: 'enableFts', given: 'enable_fts', value: true },
    ]);
    expect(() => resolveBackendOptions('fakeduck', { tablename: 'x' }, { where: 'settings.ltm', style: 'snake' })).toThrow(
      /settings\.ltm: unknown key .*tablename \(did you mean table_name\?\)\. Valid keys: uri, table_name, enable_fts, s3_region, max_value_bytes/,
    );
    expect(backendOptionKeys('FAKEDUCK')).toEqual(duckKeys);
  });
});

describe('registerBackend', () => {
  it('refuses a second registration of a name unless asked to replace it', async () => {
    registerRecording('twice', []);
    expect(() => registerBackend('TWICE', async () => new MemoryBackend(), { optionKeys: [] })).toThrow(
      /already registered; pass \{ replace: true \}/,
    );
    const replacement = new MemoryBackend();
    registerBackend('twice', async () => replacement, { optionKeys: [], replace: true });
    expect(await createLTMBackend('twice')).toBe(replacement);
  });

  it('validates the name, the factory and the option keys', () => {
    const factory = async (): Promise<LTMBackend> => new MemoryBackend();
    expect(() => registerBackend('has space', factory, { optionKeys: [] })).toThrow(LTMError);
    expect(() => registerBackend('9lives', factory, { optionKeys: [] })).toThrow(/must start with a letter/);
    expect(() => registerBackend('ok', 'nope' as unknown as typeof factory, { optionKeys: [] })).toThrow(/factory must be a function/);
    expect(() => registerBackend('ok', factory, {} as { optionKeys: string[] })).toThrow(/optionKeys/);
    expect(() => registerBackend('ok', factory, { optionKeys: ['table_name'] })).toThrow(/must be camelCase/);
    expect(() => registerBackend('ok', factory, { optionKeys: ['uri', 'uri'] })).toThrow(/listed twice/);
    expect(listBackends().map((backend) => backend.name)).not.toContain('ok');
  });

  it('lists backends sorted by name, and unregisters', () => {
    registerRecording('alpha', ['uri']);
    expect(listBackends().map((backend) => backend.name)).toEqual(['alpha', 'memory']);
    expect(unregisterBackend('ALPHA')).toBe(true);
    expect(unregisterBackend('alpha')).toBe(false);
    expect(listBackends().map((backend) => backend.name)).toEqual(['memory']);
  });
});

describe('factories that fail', () => {
  it('keep the errorType of an LTMError', async () => {
    registerBackend(
      'locked',
      async () => {
        throw new LTMError('locked', 'database file is held by process 42');
      },
      { optionKeys: [] },
    );
    registered.push('locked');
    const error = await rejection(createLTMBackend('locked'));
    expect(error.errorType).toBe('locked');
    expect(error.retryable).toBe(true);
  });

  it('turn anything else thrown, even synchronously, into an LTMError naming the backend', async () => {
    const cause = new Error('boom');
    registerBackend(
      'broken',
      () => {
        throw cause;
      },
      { optionKeys: [] },
    );
    registered.push('broken');
    const error = await rejection(createLTMBackend('broken'));
    expect(error.errorType).toBe('query_error');
    expect(error.message).toBe('opening LTM backend "broken" failed: boom');
    expect(error.cause).toBe(cause);
  });

  it('may not resolve to something that is not a backend', async () => {
    registerBackend('hollow', async () => ({}) as LTMBackend, { optionKeys: [] });
    registered.push('hollow');
    const error = await rejection(createLTMBackend('hollow'));
    expect(error.errorType).toBe('query_error');
    expect(error.message).toContain('not an LTMBackend');
  });
});

describe('createLTMBackendFromSettings', () => {
  it('opens what parseLtmSettings describes', async () => {
    const settings = parseLtmSettings('settings:\n  ltm:\n    backend: Memory\n    max_value_bytes: 8\n');
    expect(settings).toEqual({ backend: 'memory', options: { maxValueBytes: 8 } });
    const backend = await createLTMBackendFromSettings(settings);
    expect(backend).toBeInstanceOf(MemoryBackend);
    expect(await backend.store('k', '1234567')).toMatchObject({ success: false, errorType: 'validation_error' });
    await backend.close();
  });

  it('rejects something that is not parsed settings', async () => {
    const error = await rejection(createLTMBackendFromSettings(null as unknown as { backend: string; options: {} }));
    expect(error.message).toContain('parseLtmSettings');
  });
});

describe('suggestions for a key missing its family prefix', () => {
  it('name every key that ends with the given words', async () => {
    registerRecording('clouds', ['s3SecretAccessKey', 'gcsSecretAccessKey', 'azureAccountKey', 'poolSize']);
    const error = await rejection(createLTMBackend('clouds', { secret_access_key: 'x', size: 1 }));
    expect(error.message).toContain('secret_access_key (did you mean s3_secret_access_key or gcs_secret_access_key?)');
    expect(error.message).toContain('size (did you mean poolSize?)');
  });
});
