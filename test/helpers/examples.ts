/**
 * The files of examples/ as the e2e tests run them: read from the repository, with the container's paths and
 * ports replaced by a temp dir's and free loopback ports. Nothing else changes, so the tests run the
 * examples as written.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CLI, ROOT } from './hotpull.js';

export const EXAMPLES_DIR = path.join(ROOT, 'examples');

/** Every file under examples/NAME, relative path → text. */
export async function exampleFiles(name: string): Promise<Record<string, string>> {
  const base = path.join(EXAMPLES_DIR, name);
  const files: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== '__pycache__') await walk(full);
      } else if (!entry.name.endsWith('.pyc')) {
        files[path.relative(base, full)] = await fs.readFile(full, 'utf8');
      }
    }
  };
  await walk(base);
  return files;
}

export interface Placement {
  /** the checkout (the container's /app) */
  app: string;
  /** runtime files: sockets, FIFO, pid files (the container's /run/app) */
  run: string;
  /** the virtualenv (the container's /venv) */
  venv?: string;
  /** the app server's port (8000 in the container), bound to 127.0.0.1 */
  appPort: number;
  /** hotpull's --listen port (9300 in the container), bound to 127.0.0.1 */
  hotpullPort: number;
}

/** A container path only where it stands alone: /app but not /srv/app, /application or /apps (unix:///run/app is fine). */
const standalone = (p: string) => new RegExp(`(?<![\\w.-])${p.replaceAll('/', '\\/')}(?![\\w.-])`, 'g');

/** The container's paths and ports → the test's; `hotpull` as a command → this checkout's built CLI. */
export function render(text: string, at: Placement): string {
  let out = text.replace(standalone('/run/app'), at.run);
  out = out.replace(standalone('/app'), at.app);
  if (at.venv) out = out.replace(standalone('/venv'), at.venv);
  out = out
    .replaceAll('= :8000', `= 127.0.0.1:${at.appPort}`)
    .replaceAll('0.0.0.0:8000', `127.0.0.1:${at.appPort}`)
    .replaceAll('127.0.0.1:8000', `127.0.0.1:${at.appPort}`)
    .replaceAll('0.0.0.0:9300', `127.0.0.1:${at.hotpullPort}`)
    .replaceAll('127.0.0.1:9300', `127.0.0.1:${at.hotpullPort}`);
  return out.replace(/^(;?command=)hotpull /gm, `$1${process.execPath} ${CLI} `);
}

export function renderAll(files: Record<string, string>, at: Placement): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([name, text]) => [name, render(text, at)]));
}

/**
 * A supervisord.conf's documented variant: every `;command=…` line that follows a comment naming the variant
 * replaces the program's active `command=` line above it.
 */
export function useVariant(conf: string, variant: string): string {
  const lines = conf.split('\n');
  let swapped = 0;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith(';command=') || !lines[i - 1]?.startsWith(`; ${variant} variant`)) continue;
    let j = i - 1;
    while (j >= 0 && !lines[j]!.startsWith('command=')) j--;
    if (j < 0) throw new Error(`useVariant: no command= line above line ${i + 1}`);
    lines[j] = lines[i]!.slice(1);
    lines[i] = `; (variant ${variant} in use)`;
    swapped++;
  }
  if (swapped === 0) throw new Error(`useVariant: no "; ${variant} variant" command in the config`);
  return lines.join('\n');
}

/** The `key=value` lines of one `[section]` of an ini file (comments dropped), in order. */
export function iniSection(text: string, section: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(`[${section}]`);
  if (start < 0) return [];
  const result: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('[')) break;
    if (/^\w[\w-]*\s*=/.test(line)) result.push(line.trim());
  }
  return result;
}
