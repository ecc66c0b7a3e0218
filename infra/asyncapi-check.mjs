// Validate an AsyncAPI document with the AsyncAPI Initiative's own parser (the spec's JSON Schema and its rules).
// Usage: node asyncapi-check.mjs DOCUMENT                   exit 1 on any error
//        node asyncapi-check.mjs --expect-failure DOCUMENT  exit 0 only if it has an error (the check can fail)
import { Parser } from '@asyncapi/parser';
import { readFileSync } from 'node:fs';

const expectFailure = process.argv[2] === '--expect-failure';
const path = process.argv[expectFailure ? 3 : 2];
const severities = ['error', 'warning', 'info', 'hint'];
const diagnostics = await new Parser().validate(readFileSync(path, 'utf8'));
for (const d of diagnostics) {
  console.log(`${severities[d.severity]} ${d.code} ${d.path.join('.')}: ${d.message}`);
}
const errors = diagnostics.filter((d) => d.severity === 0).length;
if (expectFailure) {
  process.exit(errors > 0 ? 0 : 1);
}
console.log(`${path}: ${errors} error(s)`);
process.exit(errors > 0 ? 1 : 0);
