/**
 * What the demo's repository and app server contain. Pure data: nothing here touches the disk, so the
 * scenario can be read (and tested) without running it.
 */

/** The reload file, relative to the checkout: the demo app's stand-in for uWSGI's --touch-reload. */
export const RELOAD_FILE = 'reload.txt';

/** How often the app checks the reload file; uWSGI checks once per second, the demo is impatient. */
export const RELOAD_CHECK_MS = 100;

/** Build 1 is the initial commit; builds 2..6 are the five timed pushes. */
export const FIRST_BUILD = 1;
export const PUSHES = 5;

// One greeting per build, so the served text proves the new *code* is live, not just a new data file.
const GREETINGS = ['hello', 'hallo', 'bonjour', 'hola', 'ciao', 'hej', 'ahoj', 'moi'] as const;

export function versionOf(build: number): string {
  return `v${build}`;
}

/** The files a commit of `build` writes into the repository. */
export function buildFiles(build: number): Record<string, string> {
  const greeting = GREETINGS[(build - 1) % GREETINGS.length]!;
  return {
    'version.txt': `${versionOf(build)}\n`,
    'greeting.mjs': [
      `// Build ${build}. server.mjs imports this only on a reload, never per request.`,
      'export function greet(version) {',
      `  return \`${greeting} from \${version}\`;`,
      '}',
      '',
    ].join('\n'),
  };
}

export function initialFiles(): Record<string, string> {
  // The reload file is touched, never committed: a tracked one would look modified to `git status`
  // only by mtime, but an untracked one cannot block a deploy at all.
  return { ...buildFiles(FIRST_BUILD), '.gitignore': `${RELOAD_FILE}\n` };
}

/**
 * The app server, written next to (not inside) the checkout so a deploy cannot change the server itself.
 * argv: <checkout dir> <reload file name>. Prints `port N` once listening on 127.0.0.1. Exits when its
 * stdin closes, so it cannot outlive a demo that was killed outright.
 */
export const SERVER_SCRIPT = `import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [appDir, reloadName] = process.argv.slice(2);
const reloadFile = join(appDir, reloadName);
let generation = 0;
let current;

// Like uWSGI's touch-reload: the code on disk becomes live only here, never on a request.
async function load() {
  generation += 1;
  const version = (await readFile(join(appDir, 'version.txt'), 'utf8')).trim();
  // A fresh URL per load: the ESM cache would otherwise keep serving the first greeting.mjs forever.
  const code = await import(pathToFileURL(join(appDir, 'greeting.mjs')).href + '?generation=' + generation);
  current = { version, says: code.greet(version), generation };
}

const mtimeOf = () => stat(reloadFile).then((s) => s.mtimeMs, () => undefined);
let seenMtime = await mtimeOf();
await load();

let checking = false;
setInterval(async () => {
  if (checking) return;
  checking = true;
  try {
    const mtime = await mtimeOf();
    if (mtime !== undefined && mtime !== seenMtime) {
      // Recorded before loading: one attempt per touch, as uWSGI does; a broken build keeps the old one serving.
      seenMtime = mtime;
      await load();
    }
  } catch (error) {
    process.stderr.write('reload failed, still serving ' + current.version + ': ' + error.message + '\\n');
  } finally {
    checking = false;
  }
}, ${RELOAD_CHECK_MS});

const server = createServer((request, response) => {
  response.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
  response.end(JSON.stringify(current) + '\\n');
});
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
`;
