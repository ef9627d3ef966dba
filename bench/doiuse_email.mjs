// Check rendered emails against caniemail data (doiuse-email) for the clients we promise.
// Usage: cd DIR_WITH_doiuse-email && node /path/bench/doiuse_email.mjs OUT_DIR [-v]
// OUT_DIR holds the .html files written by `cos preview all --out OUT_DIR`.
import {readdirSync, readFileSync} from 'node:fs';
import {join} from 'node:path';
import {createRequire} from 'node:module';
const require = createRequire(join(process.cwd(), 'package.json'));
const mod = await import(require.resolve('doiuse-email'));
const doIUseEmail = mod.doIUseEmail ?? mod.default.doIUseEmail;
const CLIENTS = ['gmail.desktop-webmail', 'gmail.ios', 'gmail.android', 'gmail.mobile-webmail',
  'outlook.windows', 'outlook.macos', 'outlook.outlook-com', 'apple-mail.macos',
  'apple-mail.ios', 'yahoo.desktop-webmail'];
const dir = process.argv[2];
const verbose = process.argv.includes('-v');
let total = 0;
for (const name of readdirSync(dir).filter((n) => n.endsWith('.html')).sort()) {
  const result = doIUseEmail(readFileSync(join(dir, name), 'utf8'), {emailClients: CLIENTS});
  const errors = result.errors ?? [];
  const features = [...new Set(errors.map((e) => e.split('`')[1]))];
  total += errors.length;
  console.log(`${name}: ${errors.length} findings, ${features.length} features: ${features.join(', ')}`);
  if (verbose) for (const e of errors) console.log('   ', e);
}
console.log(`total findings: ${total}`);
