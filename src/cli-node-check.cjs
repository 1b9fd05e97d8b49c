// The first file `vram-guard` loads (built into dist/cli.cjs). It checks the Node.js version in
// syntax every Node.js understands, so an old Node prints one line instead of a stack trace, and
// only then loads the CLI (dist/cli-main.cjs), which needs what package.json's engines.node says.
'use strict';

var NEEDED = 'Node.js 18.19 or later (20.5 or later on the 20 line)';
var EXIT_USAGE = 64;

function supported(version) {
  var parts = String(version).split('.');
  var major = parseInt(parts[0], 10);
  var minor = parseInt(parts[1], 10);
  if (major === 18) return minor >= 19;
  if (major === 20) return minor >= 5;
  return major > 20;
}

var version = process.versions && process.versions.node;
if (!supported(version)) {
  process.stderr.write('vram-guard needs ' + NEEDED + '; this is Node.js ' + version + ' (' + process.execPath + ').\n');
  process.exitCode = EXIT_USAGE;
} else {
  require('./cli-main.cjs');
}
