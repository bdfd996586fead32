#!/usr/bin/env node
// Builds the AF_PACKET/TAP addon in native/ with node-gyp; run by `npm install` / `npm ci` (the package's
// `install` script). It never fails the install: the memory wire and everything else need no native code, so
// when the addon cannot be built the reason goes to native/build/unavailable.txt, where src/link/native.ts
// finds it and the packet and tap drivers quote it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = fileURLToPath(new URL('../native/', import.meta.url));
const buildDir = join(nativeDir, 'build');
const reasonFile = join(buildDir, 'unavailable.txt');
const logFile = join(buildDir, 'build.log');

function giveUp(reason, log = '') {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(reasonFile, reason.trim() + '\n');
  if (log) writeFileSync(logFile, log);
  console.warn(`ringstack: native addon not built (packet: and tap: links unavailable): ${reason.trim()}`);
  process.exit(0);
}

/** npm's own node-gyp: npm passes its path to install scripts; otherwise look beside npm or node. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  if (process.env.npm_execpath) {
    candidates.push(resolve(dirname(process.env.npm_execpath), '../node_modules/node-gyp/bin/node-gyp.js'));
  }
  candidates.push(resolve(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  return candidates.find((path) => path && existsSync(path));
}

/** Headers installed with this node (distribution packages put them in PREFIX/include/node): no download. */
function localNodeDir() {
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include/node/node_api.h')) ? prefix : undefined;
}

if (process.env.RINGSTACK_SKIP_NATIVE) giveUp('RINGSTACK_SKIP_NATIVE is set');
if (process.platform !== 'linux') giveUp(`AF_PACKET and TAP are Linux interfaces; this is ${process.platform}`);
const nodeGyp = findNodeGyp();
if (!nodeGyp) giveUp("node-gyp not found (neither npm's bundled copy nor one beside node)");

rmSync(reasonFile, { force: true });
const args = [nodeGyp, 'rebuild', '--release'];
const nodeDir = localNodeDir();
if (nodeDir) args.push(`--nodedir=${nodeDir}`);
const result = spawnSync(process.execPath, args, { cwd: nativeDir, encoding: 'utf8', timeout: 300_000 });
const log = `${process.execPath} ${args.join(' ')}\n${result.stdout ?? ''}${result.stderr ?? ''}`;
if (result.error || result.status !== 0) {
  const lastLines = log.trim().split('\n').filter((line) => /error|not found|missing/i.test(line)).slice(-5).join('\n');
  giveUp(
    `node-gyp rebuild failed (${result.error?.message ?? `exit ${result.status}`}); see native/build/build.log` +
      (lastLines ? `\n${lastLines}` : ''),
    log,
  );
}
writeFileSync(logFile, log);
console.log('ringstack: native addon built (native/build/Release/ringstack_native.node)');
