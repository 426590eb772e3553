/**
 * Real headless Chromium (the Debian `chromium` package) driven over the DevTools protocol on a pipe
 * (--remote-debugging-pipe: commands on fd 3, answers on fd 4, each JSON message ended by a NUL byte). One launch
 * serves any number of widths (Emulation.setDeviceMetricsOverride), and the test can wait for what the page does
 * (Runtime.evaluate) instead of sleeping. Chromium runs in its own process group; close() ends the whole group and
 * checks that none of it is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { tmpDir } from './git.js';

export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

/** Why Chromium cannot run here, or undefined. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no ${CHROMIUM} (apt-get install chromium)`;
}

export interface Page {
  /** sets the viewport: a phone (mobile) or a desktop window */
  resize(width: number, height: number, mobile: boolean): Promise<void>;
  navigate(url: string): Promise<void>;
  /** the value of a JavaScript expression in the page (awaited when it is a promise) */
  evaluate<T>(expression: string): Promise<T>;
  /** polls `expression` every 50 ms until it is truthy */
  waitFor(what: string, expression: string, timeoutMs?: number): Promise<void>;
  /** turns JavaScript off (or on) for the next navigation: the page as a browser without scripts sees it */
  setScriptsDisabled(disabled: boolean): Promise<void>;
  /** a PNG of the viewport, written to `file` */
  screenshot(file: string): Promise<void>;
  /** JavaScript dialogs the page opened (alert, confirm): an injected script would show here */
  dialogs: string[];
  /** console errors and CSP violations the page reported */
  problems: string[];
}

export interface Browser {
  page: Page;
  pid: number;
  close(): Promise<void>;
}

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

export async function launchChromium(): Promise<Browser> {
  const profile = await tmpDir('hotpull-chromium-');
  const args = [
    '--headless',
    '--remote-debugging-pipe',
    `--user-data-dir=${profile}`,
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-gpu',
    '--disable-extensions',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
    '--hide-scrollbars',
    ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    'about:blank',
  ];
  const child: ChildProcess = spawn(CHROMIUM, args, {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  toBrowser.on('error', () => undefined);

  let nextId = 1;
  const pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  const listeners: Array<(m: Message) => void> = [];
  let buffer = Buffer.alloc(0);
  fromBrowser.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (let end = buffer.indexOf(0); end >= 0; end = buffer.indexOf(0)) {
      const message = JSON.parse(buffer.subarray(0, end).toString('utf8')) as Message;
      buffer = buffer.subarray(end + 1);
      if (message.id !== undefined) {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(`chromium: ${message.error.message}`));
        else waiter?.resolve(message);
      } else for (const listener of listeners) listener(message);
    }
  });
  void exited.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error(`chromium exited:\n${stderr}`));
    pending.clear();
  });

  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: (m) => resolve(m.result ?? {}), reject });
      toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });

  const close = async () => {
    await send('Browser.close').catch(() => undefined);
    const timer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    // the renderer, GPU and zygote processes are in the group too: end what is left of it
    killGroup(child.pid!, 'SIGKILL');
    await fs.rm(profile, { recursive: true, force: true });
  };

  try {
    const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const dialogs: string[] = [];
    const problems: string[] = [];
    let loaded: (() => void) | undefined;
    listeners.push((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === 'Page.loadEventFired') loaded?.();
      if (m.method === 'Page.javascriptDialogOpening') {
        dialogs.push(String(m.params?.message));
        void send('Page.handleJavaScriptDialog', { accept: true }, sessionId).catch(() => undefined);
      }
      if (m.method === 'Log.entryAdded') {
        const entry = m.params?.entry as { level?: string; text?: string } | undefined;
        if (entry?.level === 'error') problems.push(String(entry.text));
      }
      if (m.method === 'Runtime.exceptionThrown') problems.push(JSON.stringify(m.params?.exceptionDetails));
    });
    for (const domain of ['Page', 'Runtime', 'Log']) await send(`${domain}.enable`, {}, sessionId);
    const evaluate = async <T>(expression: string): Promise<T> => {
      const reply = (await send(
        'Runtime.evaluate',
        { expression, returnByValue: true, awaitPromise: true },
        sessionId,
      )) as { result: { value: T }; exceptionDetails?: unknown };
      if (reply.exceptionDetails) throw new Error(`${expression}: ${JSON.stringify(reply.exceptionDetails)}`);
      return reply.result.value;
    };
    const page: Page = {
      dialogs,
      problems,
      resize: async (width, height, mobile) => {
        await send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile }, sessionId);
      },
      navigate: async (url) => {
        const load = new Promise<void>((resolve) => (loaded = resolve));
        await send('Page.navigate', { url }, sessionId);
        await load;
      },
      evaluate,
      setScriptsDisabled: async (value) => {
        await send('Emulation.setScriptExecutionDisabled', { value }, sessionId);
      },
      waitFor: async (what, expression, timeoutMs = 15_000) => {
        const deadline = Date.now() + timeoutMs;
        while (!(await evaluate<unknown>(expression))) {
          if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what} in chromium`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      screenshot: async (file) => {
        const { data } = (await send('Page.captureScreenshot', { format: 'png' }, sessionId)) as { data: string };
        await fs.writeFile(file, Buffer.from(data, 'base64'));
      },
    };
    return { page, pid: child.pid!, close };
  } catch (error) {
    await close();
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone
  }
}

/** Whether any process of the group `pgid` is still alive. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A PNG's width and height, from its IHDR chunk. */
export function pngSize(png: Buffer): { width: number; height: number } {
  if (png.subarray(1, 4).toString('latin1') !== 'PNG') throw new Error('not a PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
