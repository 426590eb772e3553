/**
 * `hotpull completion bash|zsh|fish`: each script is valid for its shell, registers for `hotpull`, and offers
 * what the options table says (commands, each command's flags, enum values). Real shells; without zsh or fish
 * their tests skip, except under CI=true where a missing shell fails (.ci/run installs both).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/hotpull.js';
import { tmpDir } from './helpers/git.js';
import { completionScript } from '../src/config/completion.js';

const CI = process.env.CI === 'true';
const has = async (shell: string) =>
  (await execa(shell, ['-c', 'exit 0'], { reject: false, stdin: 'ignore' })).exitCode === 0;
const missing = async (shell: string) => (CI || (await has(shell)) ? undefined : `${shell} is not installed`);

let dir: string;
const script = async (shell: string) => {
  const result = await runCli(['completion', shell]);
  expect([result.exitCode, result.stderr]).toEqual([0, '']);
  const file = path.join(dir, `hotpull.${shell}`);
  await fs.writeFile(file, `${result.stdout}\n`);
  return file;
};
beforeAll(async () => {
  dir = await tmpDir();
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('bash', () => {
  it('is valid bash and registers a completion for hotpull', async () => {
    const file = await script('bash');
    expect((await execa('bash', ['-n', file], { reject: false })).exitCode).toBe(0);
    const registered = await execa('bash', ['-c', `source ${JSON.stringify(file)} && complete -p hotpull`]);
    expect(registered.stdout).toBe('complete -o default -F _hotpull hotpull');
  });

  /** What bash offers for the words typed so far (the last one being completed). */
  const offers = async (file: string, words: string[]) => {
    const array = words.map((w) => `'${w}'`).join(' ');
    const result = await execa('bash', [
      '-c',
      `source ${JSON.stringify(file)}; COMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; _hotpull; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ]);
    return result.stdout.split('\n').filter(Boolean).sort();
  };

  it.each([
    [['hotpull', 'st'], ['status']],
    [
      ['hotpull', 'host', ''],
      ['deploy', 'ls', 'up'],
    ],
    [['hotpull', 'run', '--inte'], ['--interval']],
    [
      ['hotpull', 'run', '--layout', ''],
      ['atomic', 'in-place'],
    ],
    [['hotpull', '--log-level', 'debug', 'host', 'up', '--ima'], ['--image']],
    [['hotpull', 'run', '--ima'], ['--image-revision']],
    [['hotpull', 'status', '--log-f'], ['--log-format']],
    [
      ['hotpull', 'completion', ''],
      ['bash', 'fish', 'zsh'],
    ],
    [['hotpull', 'run', '--interval', ''], []],
  ])('%j offers %j', async (words, expected) => {
    expect(await offers(await script('bash'), words)).toEqual(expected);
  });
});

describe('zsh', async () => {
  const skip = await missing('zsh');
  it.skipIf(skip)('is valid zsh and registers _hotpull for hotpull after compinit', async () => {
    const file = await script('zsh');
    expect((await execa('zsh', ['-n', file], { reject: false })).exitCode).toBe(0);
    const result = await execa('zsh', [
      '-f',
      '-c',
      `autoload -Uz compinit && compinit -u -d ${JSON.stringify(path.join(dir, 'zcompdump'))} && source ${JSON.stringify(file)} && print -r -- $_comps[hotpull]`,
    ]);
    expect(result.stdout).toBe('_hotpull');
  });

  it.skipIf(skip)('offers flags per command and enum values (compadd recorded)', async () => {
    const file = await script('zsh');
    const offers = async (words: string[]) => {
      const array = words.map((w) => `'${w}'`).join(' ');
      const result = await execa('zsh', [
        '-f',
        '-c',
        `compdef() {}; compadd() { print -rl -- "$@" }; _files() { print FILES }; source ${JSON.stringify(file)}; words=(${array}); CURRENT=${words.length}; _hotpull`,
      ]);
      return result.stdout.split('\n').filter((w) => w !== '--');
    };
    expect(await offers(['hotpull', 'run', '--layout', ''])).toEqual(['in-place', 'atomic']);
    expect(await offers(['hotpull', 'host', 'up', '-'])).toEqual(
      expect.arrayContaining(['--image', '--publish', '-p', '--help']),
    );
    expect(await offers(['hotpull', 'host', 'up', '-'])).not.toContain('--interval');
    expect(await offers(['hotpull', 'run', '--repo', ''])).toEqual(['FILES']);
  });
});

describe('fish', async () => {
  const skip = await missing('fish');
  it.skipIf(skip)('is valid fish and completes commands, flags per command and enum values', async () => {
    const file = await script('fish');
    expect((await execa('fish', ['-n', file], { reject: false })).exitCode).toBe(0);
    const complete = async (line: string) =>
      (await execa('fish', ['-c', `source ${JSON.stringify(file)}; complete -C ${JSON.stringify(line)}`])).stdout
        .split('\n')
        .map((l) => l.split('\t')[0])
        .sort();
    expect(await complete('hotpull host ')).toEqual(['deploy', 'ls', 'up']);
    expect(await complete('hotpull run --inte')).toEqual(['--interval']);
    expect(await complete('hotpull run --layout ')).toEqual(['atomic', 'in-place']);
    expect(await complete('hotpull host up --ima')).toEqual(['--image']);
    expect(await complete('hotpull run --ima')).toEqual(['--image-revision']);
  });
});

describe('hotpull completion', () => {
  it('needs exactly one known shell', async () => {
    const result = await runCli(['completion']);
    expect([result.exitCode, result.stderr]).toEqual([
      2,
      'hotpull: completion needs one shell: one of bash, zsh, fish (got none)',
    ]);
    expect(() => completionScript(['bash', 'zsh'])).toThrow(
      'completion needs one shell: one of bash, zsh, fish (got "bash zsh")',
    );
  });
});
