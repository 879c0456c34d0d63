// Runs SQL with DuckDB (npm @duckdb/node-api) for the Parquet tests.
// usage: node duckdb.cjs TOOLS_DIR < {"name": "SQL", ...}
// Prints {"name": [row objects], ...} as JSON; BigInts and timestamps as
// DuckDB's JSON form. Exits non-zero with the error on stderr.
const tools = process.argv[2];
const { DuckDBInstance } = require(tools + '/node_modules/@duckdb/node-api');
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', async () => {
  try {
    const queries = JSON.parse(input);
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const out = {};
    for (const [name, sql] of Object.entries(queries)) {
      const r = await con.runAndReadAll(sql);
      out[name] = r.getRowObjectsJson();
    }
    process.stdout.write(JSON.stringify(out));
  } catch (e) {
    process.stderr.write(String(e && e.stack || e) + '\n');
    process.exit(1);
  }
});
