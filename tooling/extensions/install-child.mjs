// Runs DuckDB's own `INSTALL <name>` into an extension directory. A separate process, because a download over a
// blocked network can hang inside native code, where only killing the process stops it.
// Arguments: <file URL of @duckdb/node-api> <extension directory> <extension name> [repository URL]
const [apiUrl, dir, name, repository] = process.argv.slice(2);
if (!/^[a-z_][a-z0-9_]*$/.test(name ?? '')) {
  console.error(`invalid extension name ${JSON.stringify(name)}`);
  process.exit(2);
}
const { DuckDBInstance } = await import(apiUrl);
// The repository goes in as configuration, not SQL text.
const config = { extension_directory: dir };
if (repository) config.custom_extension_repository = repository;
const instance = await DuckDBInstance.create(':memory:', config);
const connection = await instance.connect();
try {
  await connection.run(`INSTALL ${name}`);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
} finally {
  connection.closeSync();
  instance.closeSync();
}
