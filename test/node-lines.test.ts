/**
 * The supported Node lines, in one place each and kept in step: .ci/run runs the whole suite on every line it
 * lists (CI_NODE_LINE tells the run which one it is, and this file checks that it really runs there), the image's
 * default NODE_BASE and docker/offline-bases.sh's default NODE_LINE are one of them, and package.json's engines
 * admit them all.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from './helpers/hotpull.js';

const read = (file: string) => fs.readFile(path.join(ROOT, file), 'utf8');
const major = (version: string) => Number(/^v?(\d+)\./.exec(version)?.[1]);

async function ciLines(): Promise<number[]> {
  const loop = /^for major in ([\d ]+); do$/m.exec(await read('.ci/run'))?.[1];
  return (loop ?? '').trim().split(/\s+/).map(Number);
}

describe('supported Node lines', () => {
  it('CI runs the suite on 22 and 24; the image and the offline node base default to one of them', async () => {
    const lines = await ciLines();
    expect(lines).toEqual([22, 24]);
    const nodeBase = /^ARG NODE_BASE=node:(\d+)-/m.exec(await read('Dockerfile'))?.[1];
    expect(lines).toContain(Number(nodeBase));
    const offline = /NODE_LINE:-(\d+)/.exec(await read('docker/offline-bases.sh'))?.[1];
    expect(lines).toContain(Number(offline));
    const engines = (JSON.parse(await read('package.json')) as { engines: { node: string } }).engines.node;
    const floor = /^>=(\d+)\.(\d+)$/.exec(engines);
    expect(floor).not.toBeNull();
    for (const line of lines) expect(line).toBeGreaterThanOrEqual(Number(floor![1]));
  });

  it('this run is on the line CI asked for, and the CLI and the scripts the tests start run on it too', async () => {
    const wanted = process.env.CI_NODE_LINE;
    if (wanted) expect(major(process.version)).toBe(Number(wanted));
    // the built CLI runs with process.execPath; scripts that say `node` find it first on PATH
    expect((await runCli(['--version'])).exitCode).toBe(0);
    expect((await execa('node', ['--version'])).stdout.trim()).toBe(process.version);
  });
});
