/**
 * "Secrets never reach logs", pinned at the logger's output: every line the one pino adapter (src/log.ts) writes
 * passes through `redact`, whatever field the URL sits in and whether or not the code that logged it redacted it
 * first. Read where an operator reads it: the real pino stream in process, and a process's stdout in JSON and in
 * pretty format. redact's own cases (which userinfo it masks) are in redact.test.ts.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../src/log.js';
import { logSink, ROOT } from './helpers/hotpull.js';

/**
 * One URL per userinfo shape redact masks, each password made of marker words that must appear in no output.
 * Left out on purpose: a token in a query string and the scp-like `user:pass@host:path` (redact does not handle
 * them: the config refuses the scp-like form with a password, see redact.ts).
 */
const URLS = [
  'https://deploy:AlphaPass@git.example.com/o/r.git',
  'https://BravoToken@github.com/o/r.git',
  `http://deploy:Charlie"quote'Delta space@Echo#hash?Foxtrot%zz@127.0.0.1:9/r.git`,
  'https://deploy:Golf%40pct%2FHotel%3A@git.example.com/o/r.git',
  'ssh://deploy:IndiaSsh@git.example.com:2222/o/r.git',
  'http://deploy:JulietNoPath@127.0.0.1:9',
];
const MARKERS = ['Alpha', 'Bravo', 'Charlie', 'Delta', 'Echo', 'Foxtrot', 'Golf', 'Hotel', 'India', 'Juliet'];
const leaked = (text: string) => MARKERS.filter((m) => text.includes(m));

/**
 * Every place a URL can sit in a log call: the message, a format argument, a field, a nested field, an array
 * element, a child logger's binding, an error logged alone (message and stack), an error in `err` with a cause.
 * Plain JS (run in this process and in a child node), each shape logs every URL.
 */
const EVERY_SHAPE = `
  for (const url of urls) {
    logger.info('fetching ' + url);
    logger.info('remote %s unreachable', url);
    logger.warn({ remote: url }, 'field');
    logger.warn({ git: { remote: { url, also: [url] } } }, 'nested');
    logger.warn({ remotes: ['origin', url] }, 'array');
    logger.child({ remote: url }).info('child binding');
    logger.error(new Error("fatal: unable to access '" + url + "/': 401"));
    const err = new Error('fetch failed for ' + url, { cause: new Error('git said ' + url) });
    logger.error({ err }, 'pass failed');
  }
`;
const logEveryShape = new Function('logger', 'urls', EVERY_SHAPE) as (logger: Logger, urls: string[]) => void;

/** A child node that builds the logger as the daemon does (stdout, fd 1) and logs every shape. */
async function childOutput(format: 'json' | 'pretty'): Promise<string> {
  const log = pathToFileURL(path.join(ROOT, 'dist/log.js')).href;
  const script = `
    const { createLogger } = await import(${JSON.stringify(log)});
    const logger = await createLogger({ level: 'debug', format: ${JSON.stringify(format)} });
    const urls = JSON.parse(process.env.URLS);
    ${EVERY_SHAPE}
  `;
  const result = await execa(process.execPath, ['--input-type=module', '-e', script], {
    env: { URLS: JSON.stringify(URLS), NO_COLOR: '1' },
    reject: false,
  });
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  return result.stdout;
}

describe('no log line holds a URL password, whatever field it sits in', () => {
  it('the pino stream: every line, every field shape, each URL masked and still there', async () => {
    const sink = logSink();
    logEveryShape(await createLogger({ level: 'debug', format: 'json', destination: sink }), URLS);
    expect(sink.lines).toHaveLength(URLS.length * 8);
    expect(leaked(sink.text())).toEqual([]);
    // masked, not dropped: the host part is still there to read
    const records = sink.records();
    expect(records[0]).toMatchObject({ msg: 'fetching https://deploy:***@git.example.com/o/r.git' });
    expect(records[2]).toMatchObject({ remote: 'https://deploy:***@git.example.com/o/r.git' });
    expect(records[8]).toMatchObject({ msg: 'fetching https://***@github.com/o/r.git' });
    const alone = records[6] as { msg: string; err: { message: string; stack: string } };
    expect(alone.msg).toBe("fatal: unable to access 'https://deploy:***@git.example.com/o/r.git/': 401");
    expect(alone.err.stack).toContain(`Error: ${alone.msg}\n`);
    const failed = records[7] as { err: { message: string; stack: string } };
    expect(failed.err.message).toBe(
      'fetch failed for https://deploy:***@git.example.com/o/r.git: git said https://deploy:***@git.example.com/o/r.git',
    );
    expect(failed.err.stack).toContain('caused by: Error: git said https://deploy:***@git.example.com/o/r.git');
  });

  it.each(['json', 'pretty'] as const)('a process logging in %s format: nothing on its stdout', async (format) => {
    const out = await childOutput(format);
    expect(out.split('\n').filter((l) => l.includes('***@')).length).toBeGreaterThanOrEqual(URLS.length * 8);
    expect(leaked(out)).toEqual([]);
  });
});
