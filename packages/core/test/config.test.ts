import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LTMError } from '../src/errors.js';
import { MemoryBackend } from '../src/memory-backend.js';
import { parseLtmSettings, validateCommonOptions } from '../src/config.js';
import { registerBackend, unregisterBackend } from '../src/registry.js';

// The keys @ltm/backend-duckdb registers, plus one that takes nested values (to check deep expansion).
const DUCKDB_KEYS = [
  'uri',
  'tableName',
  'queryEngine',
  'enableFts',
  'format',
  'searchEngine',
  'maxValueBytes',
  'poolSize',
  'acquireTimeoutMs',
  'readOnly',
  's3Region',
  's3Endpoint',
  's3AccessKeyId',
  's3SecretAccessKey',
  's3SessionToken',
  's3UrlStyle',
  's3UseSsl',
  'gcsAccessKeyId',
  'gcsSecretAccessKey',
  'azureConnectionString',
  'azureAccountName',
  'azureAccountKey',
  'extensionDirectory',
];

beforeAll(() => {
  registerBackend('duckdb', async () => new MemoryBackend(), { optionKeys: DUCKDB_KEYS });
  registerBackend('nested', async () => new MemoryBackend(), { optionKeys: ['headers', 'endpoints'] });
});

afterAll(() => {
  unregisterBackend('duckdb');
  unregisterBackend('nested');
});

function parseError(input: string | object, env: Record<string, string> = {}): LTMError {
  try {
    parseLtmSettings(input, { env });
  } catch (error) {
    expect(error).toBeInstanceOf(LTMError);
    expect((error as LTMError).errorType).toBe('validation_error');
    return error as LTMError;
  }
  throw new Error('expected parseLtmSettings to throw');
}

const ltm = (body: string): string => `settings:\n  ltm:\n${body.replace(/^/gm, '    ')}\n`;

describe("the story's examples", () => {
  it('DuckDB on GCS, native format', () => {
    const yaml = `
# Agent YAML - DuckDB with GCS
settings:
  ltm:
    backend: duckdb
    uri: "gs://my-bucket/agents/cache.duckdb"
    format: native  # or "parquet"
`;
    expect(parseLtmSettings(yaml, { env: {} })).toEqual({
      backend: 'duckdb',
      options: { uri: 'gs://my-bucket/agents/cache.duckdb', format: 'native' },
    });
  });

  it('DuckDB on S3 with a region', () => {
    const yaml = `
# Agent YAML - DuckDB with S3
settings:
  ltm:
    backend: duckdb
    uri: "s3://my-bucket/agents/cache.duckdb"
    s3_region: us-east-1
`;
    expect(parseLtmSettings(yaml, { env: {} })).toEqual({
      backend: 'duckdb',
      options: { uri: 's3://my-bucket/agents/cache.duckdb', s3Region: 'us-east-1' },
    });
  });
});

describe('what the input may be', () => {
  const expected = { backend: 'duckdb', options: { uri: 'a.duckdb', tableName: 'cache', enableFts: true } };

  it('a whole agent document, as YAML or parsed, ignoring everything outside settings.ltm', () => {
    const yaml = `
name: researcher
state_schema: { query: str }
nodes:
  - name: search
    run: "\${not expanded outside settings.ltm}"
settings:
  model: gpt-4o
  ltm:
    backend: DuckDB
    uri: a.duckdb
    table_name: cache
    enable_fts: true
`;
    expect(parseLtmSettings(yaml, { env: {} })).toEqual(expected);
    expect(
      parseLtmSettings(
        { name: 'researcher', settings: { model: 'x', ltm: { backend: 'duckdb', uri: 'a.duckdb', table_name: 'cache', enableFts: true } } },
        { env: {} },
      ),
    ).toEqual(expected);
  });

  it('the ltm mapping itself (an object without a settings key), as YAML or parsed', () => {
    expect(parseLtmSettings('backend: duckdb\nuri: a.duckdb\ntableName: cache\nenable_fts: true\n', { env: {} })).toEqual(expected);
    expect(parseLtmSettings({ backend: 'duckdb', uri: 'a.duckdb', tableName: 'cache', enableFts: true }, { env: {} })).toEqual(expected);
  });

  it('ignores members whose value is undefined in a parsed object', () => {
    expect(parseLtmSettings({ backend: 'duckdb', uri: 'a.duckdb', s3Region: undefined }, { env: {} })).toEqual({
      backend: 'duckdb',
      options: { uri: 'a.duckdb' },
    });
  });

  it('refuses anything else, saying what was expected', () => {
    expect(parseError('name: agent\nnodes: []\n').message).toContain(
      'expected an agent document with settings.ltm, or the ltm mapping itself with a backend key',
    );
    expect(parseError({ ltm: { backend: 'duckdb' } }).message).toContain('this object has an ltm key');
    expect(parseError('- backend: duckdb\n').message).toContain('got an array');
    expect(parseError(42 as unknown as object).message).toContain('got number');
    expect(parseError('').message).toContain('got null');
    expect(parseError('settings: 3\n').message).toContain('settings in the agent document must be a mapping');
    expect(parseError('settings:\n  model: x\n').message).toContain('no settings.ltm mapping');
    expect(parseError('settings:\n  ltm: duckdb\n').message).toContain('settings.ltm must be a mapping, got string');
    expect(parseError(ltm('uri: a.duckdb')).message).toContain('settings.ltm.backend is required');
    expect(parseError(ltm('backend: 7')).message).toContain('settings.ltm.backend must be a string, got number');
  });

  it('reports invalid YAML without quoting the source, which may hold a credential', () => {
    const error = parseError(ltm('backend: duckdb\ns3_secret_access_key: sup3rs3cret: x'));
    expect(error.message).toMatch(/^agent YAML is not valid: .*line 4, column \d+$/);
    expect(error.message).not.toContain('sup3rs3cret');
  });

  it('refuses duplicate YAML keys', () => {
    expect(parseError(ltm('backend: duckdb\nuri: a.duckdb\nuri: b.duckdb')).message).toContain('agent YAML is not valid');
  });
});

describe('backend names', () => {
  it('an unknown one lists the registered backends', () => {
    const error = parseError(ltm('backend: sqlite'));
    expect(error.message).toContain('unknown LTM backend "sqlite"');
    expect(error.message).toMatch(/Registered backends: duckdb, memory, nested/);
  });
});

describe('option keys', () => {
  it('accepts snake_case and camelCase for every duckdb key', () => {
    const snake = parseLtmSettings(ltm('backend: duckdb\ns3_url_style: path\ns3_use_ssl: false\nacquire_timeout_ms: 2500\nextension_directory: /opt/ext'), { env: {} });
    const camel = parseLtmSettings(ltm('backend: duckdb\ns3UrlStyle: path\ns3UseSsl: false\nacquireTimeoutMs: 2500\nextensionDirectory: /opt/ext'), { env: {} });
    expect(snake).toEqual(camel);
    expect(snake.options).toEqual({ s3UrlStyle: 'path', s3UseSsl: false, acquireTimeoutMs: 2500, extensionDirectory: '/opt/ext' });
  });

  it('refuses a misspelled key, suggesting the snake_case key and listing the valid ones', () => {
    const error = parseError(ltm('backend: duckdb\ntabel_name: cache'));
    expect(error.message).toContain('settings.ltm: unknown key for LTM backend "duckdb": tabel_name (did you mean table_name?)');
    expect(error.message).toContain('Valid keys: uri, table_name, query_engine, enable_fts, format');
    expect(error.message).toContain('s3_region');
    expect(parseError(ltm('backend: duckdb\nenableFst: true')).message).toContain('enableFst (did you mean enableFts?)');
    expect(parseError(ltm('backend: duckdb\nregion: us-east-1')).message).toContain('region (did you mean s3_region?)');
  });

  it('refuses one key in both spellings', () => {
    expect(parseError(ltm('backend: duckdb\ntable_name: a\ntableName: a')).message).toContain('settings.ltm gives both table_name and tableName');
  });

  it('refuses null (an empty YAML value)', () => {
    expect(parseError(ltm('backend: duckdb\ns3_region:')).message).toContain('settings.ltm.s3_region is empty (null)');
  });
});

describe('${VAR} expansion', () => {
  it('replaces ${VAR} in every string value, including the backend name', () => {
    const settings = parseLtmSettings(ltm('backend: ${LTM_BACKEND}\nuri: "s3://${BUCKET}/agents/${AGENT}.duckdb"'), {
      env: { LTM_BACKEND: 'DuckDB', BUCKET: 'b', AGENT: 'scout' },
    });
    expect(settings).toEqual({ backend: 'duckdb', options: { uri: 's3://b/agents/scout.duckdb' } });
  });

  it('uses :- defaults when the variable is unset or empty, and - defaults only when it is unset', () => {
    const yaml = ltm('backend: duckdb\ns3_region: ${REGION:-us-east-1}\ns3_endpoint: ${ENDPOINT-localhost:9000}');
    expect(parseLtmSettings(yaml, { env: {} }).options).toEqual({ s3Region: 'us-east-1', s3Endpoint: 'localhost:9000' });
    expect(parseLtmSettings(yaml, { env: { REGION: '', ENDPOINT: 'e:1' } }).options).toEqual({ s3Region: 'us-east-1', s3Endpoint: 'e:1' });
    expect(parseLtmSettings(yaml, { env: { REGION: 'eu-west-1' } }).options).toEqual({ s3Region: 'eu-west-1', s3Endpoint: 'localhost:9000' });
  });

  it('treats a value that expands to nothing as not given', () => {
    const yaml = ltm('backend: duckdb\nuri: a.duckdb\ns3_region: ${AWS_REGION:-}\ns3_endpoint: ${EMPTY}');
    expect(parseLtmSettings(yaml, { env: { EMPTY: '' } }).options).toEqual({ uri: 'a.duckdb' });
  });

  it('keeps $${ as a literal ${', () => {
    const settings = parseLtmSettings(ltm('backend: duckdb\ns3_secret_access_key: "pa$${word}"'), { env: { word: 'no' } });
    expect(settings.options).toEqual({ s3SecretAccessKey: 'pa${word}' });
  });

  it('reads process.env by default', () => {
    process.env.LTM_CONFIG_TEST_URI = 'from-env.duckdb';
    try {
      expect(parseLtmSettings(ltm('backend: duckdb\nuri: ${LTM_CONFIG_TEST_URI}')).options).toEqual({ uri: 'from-env.duckdb' });
    } finally {
      delete process.env.LTM_CONFIG_TEST_URI;
    }
  });

  it('names every unset variable and where it is used, never a value', () => {
    const error = parseError(
      ltm('backend: duckdb\nuri: "s3://${BUCKET}/x.duckdb"\ns3_access_key_id: ${KEY_ID}\ns3_secret_access_key: ${SECRET}\ns3_region: ${BUCKET}'),
      { SECRET: 'wJalrXUtnFEMI-secret' },
    );
    expect(error.message).toContain(
      'environment variables not set: BUCKET (used in settings.ltm.uri, settings.ltm.s3_region); KEY_ID (used in settings.ltm.s3_access_key_id)',
    );
    expect(error.message).toContain('${NAME:-default}');
    expect(error.message).not.toContain('wJalrXUtnFEMI');
  });

  it('refuses a malformed reference without printing the value', () => {
    for (const value of ['"${}"', '"${1ABC}"', '"${A B}"', '"${A:?oops}"', '"abc${UNCLOSED"']) {
      const error = parseError(ltm(`backend: duckdb\ns3_secret_access_key: ${value}`), { A: 'x' });
      expect(error.message).toContain('settings.ltm.s3_secret_access_key has a malformed ${...} reference');
      expect(error.message).not.toContain('oops');
    }
  });

  it('expands strings nested in arrays and mappings', () => {
    const yaml = ltm('backend: nested\nheaders:\n  authorization: "Bearer ${TOKEN}"\n  retries: 3\nendpoints: ["${HOST}:1", "${HOST}:2"]');
    expect(parseLtmSettings(yaml, { env: { TOKEN: 't', HOST: 'h' } }).options).toEqual({
      headers: { authorization: 'Bearer t', retries: 3 },
      endpoints: ['h:1', 'h:2'],
    });
    const missing = parseError(yaml, { HOST: 'h' });
    expect(missing.message).toContain('TOKEN (used in settings.ltm.headers.authorization)');
  });

  it('leaves parsed objects given by the caller unchanged', () => {
    const input = { backend: 'duckdb', uri: '${U}' };
    parseLtmSettings(input, { env: { U: 'x' } });
    expect(input).toEqual({ backend: 'duckdb', uri: '${U}' });
  });
});

describe('types', () => {
  it('types expanded text as YAML would for boolean and number keys', () => {
    const yaml = ltm(
      'backend: duckdb\nenable_fts: ${FTS}\nread_only: ${RO}\ns3_use_ssl: ${SSL}\npool_size: ${POOL}\nmax_value_bytes: ${MAX}\nacquire_timeout_ms: ${WAIT}',
    );
    const env = { FTS: 'true', RO: 'TRUE', SSL: 'False', POOL: '8', MAX: '0x100000', WAIT: '2.5e3' };
    expect(parseLtmSettings(yaml, { env }).options).toEqual({
      enableFts: true,
      readOnly: true,
      s3UseSsl: false,
      poolSize: 8,
      maxValueBytes: 1_048_576,
      acquireTimeoutMs: 2500,
    });
  });

  it('keeps expanded text a string for string keys, however it looks', () => {
    const yaml = ltm('backend: duckdb\ns3_access_key_id: ${KEY_ID}\ns3_secret_access_key: ${SECRET}\nuri: ${URI}');
    expect(parseLtmSettings(yaml, { env: { KEY_ID: '12345', SECRET: 'true', URI: 'null' } }).options).toEqual({
      s3AccessKeyId: '12345',
      s3SecretAccessKey: 'true',
      uri: 'null',
    });
  });

  it('refuses expanded text YAML would not type as the key expects, saying it came from the environment', () => {
    const error = parseError(ltm('backend: duckdb\nenable_fts: ${FTS}\npool_size: ${POOL}'), { FTS: 'yes', POOL: 'eight' });
    expect(error.message).toContain('settings.ltm.enable_fts (from an environment variable) must be true or false');
    expect(error.message).toContain('settings.ltm.pool_size (from an environment variable) must be a number');
    expect(error.message).not.toContain('eight');
  });

  it('never re-types a literal YAML string', () => {
    expect(parseError(ltm('backend: duckdb\nenable_fts: "true"')).message).toBe('settings.ltm.enable_fts must be true or false');
    expect(parseError(ltm("backend: duckdb\npool_size: '4'")).message).toBe('settings.ltm.pool_size must be a number');
  });

  it('checks the common keys and reports every problem at once, without values', () => {
    const error = parseError(
      ltm(
        'backend: duckdb\nuri: ""\ntable_name: "drop table; --"\nformat: csv\npool_size: 1.5\nmax_value_bytes: -4\n' +
          'acquire_timeout_ms: 0\ns3_url_style: virtual\ns3_session_token: 998877665544',
      ),
    );
    expect(error.message.split('; ')).toEqual([
      'settings.ltm.uri must not be empty',
      'settings.ltm.table_name must be an identifier: letters, digits and _, not starting with a digit',
      'settings.ltm.format must be one of auto, native, parquet (or a StorageFormat object, in code)',
      'settings.ltm.pool_size must be a whole number',
      'settings.ltm.max_value_bytes must be greater than 0',
      'settings.ltm.acquire_timeout_ms must be greater than 0',
      'settings.ltm.s3_url_style must be path or vhost',
      'settings.ltm.s3_session_token must be a string',
    ]);
    expect(error.message).not.toContain('998877665544');
    expect(error.message).not.toContain('drop table');
  });

  it('accepts identifiers and every format', () => {
    for (const format of ['auto', 'native', 'parquet']) {
      expect(parseLtmSettings(ltm(`backend: duckdb\ntable_name: _Cache_2\nformat: ${format}`), { env: {} }).options).toEqual({
        tableName: '_Cache_2',
        format,
      });
    }
  });

  it('lets backend-specific keys the schema does not know through untouched', () => {
    const queryEngine = { shared: true };
    expect(parseLtmSettings({ backend: 'duckdb', queryEngine }, { env: {} }).options.queryEngine).toEqual(queryEngine);
  });
});

describe('validateCommonOptions', () => {
  it('is the check backends run on options given in code', () => {
    expect(() => validateCommonOptions({ tableName: 'ok_name', uri: 'x', custom: Symbol('anything') })).not.toThrow();
    expect(() => validateCommonOptions({ tableName: '1bad' })).toThrow(
      new LTMError('validation_error', 'options.tableName must be an identifier: letters, digits and _, not starting with a digit'),
    );
    expect(() => validateCommonOptions({ enableFts: 'true' }, (key) => `DuckDBLTMBackend.open: ${key}`)).toThrow(
      'DuckDBLTMBackend.open: enableFts must be true or false',
    );
    const storageFormat = { open: async () => {}, commit: async () => {} };
    expect(() => validateCommonOptions({ format: storageFormat })).not.toThrow();
    expect(() => validateCommonOptions({ format: { name: 'parquet' } })).toThrow('options.format must be one of auto, native, parquet');
  });
});
