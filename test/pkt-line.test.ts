import { describe, expect, it } from 'vitest';
import {
  AdvertisementDecoder,
  AdvertisementError,
  encodePktLine,
  MAX_PKT_LINE,
  uploadPackRequest,
  type Advertisement,
} from '../src/git/pkt-line.js';

/** A pkt-line written out by hand (ASCII data), independent of the encoder under test. */
const pkt = (data: string) => (data.length + 4).toString(16).padStart(4, '0') + data;
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const ZERO = '0'.repeat(40);
const CAPS = 'multi_ack thin-pack side-band-64k symref=HEAD:refs/heads/main object-format=sha1 agent=git/2.39.5';

/** Feeds the whole input at once, or one byte at a time; the advertisement, undefined (incomplete) or the error. */
function decode(input: string | Buffer, options: { byByte?: boolean; maxBytes?: number } = {}) {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const decoder = new AdvertisementDecoder(options.maxBytes);
  try {
    if (!options.byByte) return decoder.push(bytes);
    let result: Advertisement | undefined;
    for (let i = 0; i < bytes.length && !result; i++) result = decoder.push(bytes.subarray(i, i + 1));
    return result;
  } catch (error) {
    return error as Error;
  }
}

const refsOf = (result: ReturnType<typeof decode>) =>
  result instanceof Error || result === undefined ? result : Object.fromEntries(result.refs);

describe('encodePktLine', () => {
  it.each([
    ['', '0004'],
    ['a', '0005a'],
    ['0000', '00080000'],
    [`${A} refs/heads/main\n`, pkt(`${A} refs/heads/main\n`)],
  ])('%j → %j', (data, wire) => {
    expect(encodePktLine(data).toString('latin1')).toBe(wire);
  });

  it('counts bytes, not characters', () => {
    expect(encodePktLine('é').toString('hex')).toBe(Buffer.from('0006é', 'utf8').toString('hex'));
  });

  it(`takes up to ${MAX_PKT_LINE - 4} bytes of data and refuses more`, () => {
    expect(
      encodePktLine('x'.repeat(MAX_PKT_LINE - 4))
        .subarray(0, 4)
        .toString(),
    ).toBe('fff0');
    expect(() => encodePktLine('x'.repeat(MAX_PKT_LINE - 3))).toThrow(/at most 65516 bytes of data \(got 65517\)/);
  });

  it('writes the request git itself sends (GIT_TRACE_PACKET of git 2.39, protocol v0)', () => {
    expect(uploadPackRequest('/r.git', '127.0.0.1:19418').toString('latin1')).toBe(
      pkt('git-upload-pack /r.git\0host=127.0.0.1:19418\0'),
    );
    expect(uploadPackRequest('~foo/r.git', '[::1]:9418').toString('latin1')).toBe(
      pkt('git-upload-pack ~foo/r.git\0host=[::1]:9418\0'),
    );
  });
});

const VALID: Array<[string, string, Record<string, string>, string[]]> = [
  [
    'refs with HEAD first, a tag and its peeled line',
    pkt(`${A} HEAD\0${CAPS}\n`) +
      pkt(`${A} refs/heads/main\n`) +
      pkt(`${B} refs/tags/v1\n`) +
      pkt(`${C} refs/tags/v1^{}\n`) +
      '0000',
    { HEAD: A, 'refs/heads/main': A, 'refs/tags/v1': B, 'refs/tags/v1^{}': C },
    CAPS.split(' '),
  ],
  ['an empty repository', pkt(`${ZERO} capabilities^{}\0${CAPS}\n`) + '0000', {}, CAPS.split(' ')],
  [
    'no newline at the ends of lines',
    pkt(`${A} refs/heads/main\0agent=x`) + pkt(`${B} refs/heads/b`) + '0000',
    { 'refs/heads/main': A, 'refs/heads/b': B },
    ['agent=x'],
  ],
  ['a flush alone (no refs at all)', '0000', {}, []],
  [
    'version 1 before the refs',
    pkt('version 1\n') + pkt(`${A} refs/heads/main\0agent=x\n`) + '0000',
    { 'refs/heads/main': A },
    ['agent=x'],
  ],
  [
    'shallow lines after the refs',
    pkt(`${A} refs/heads/main\0agent=x\n`) + pkt(`shallow ${B}\n`) + '0000',
    { 'refs/heads/main': A },
    ['agent=x'],
  ],
  [
    'upper-case hex, given back in lower case',
    pkt(`${'A'.repeat(40)} refs/heads/main\0\n`) + '0000',
    { 'refs/heads/main': A },
    [],
  ],
  [
    'a sha256 repository',
    pkt(`${'d'.repeat(64)} refs/heads/main\0object-format=sha256\n`) + '0000',
    { 'refs/heads/main': 'd'.repeat(64) },
    ['object-format=sha256'],
  ],
  ['upper-case hex in the lengths', `003E${A} refs/heads/main\0\n0000`, { 'refs/heads/main': A }, []],
];

describe('AdvertisementDecoder: advertisements', () => {
  it.each(VALID)('%s, whole and split at every byte', (_name, input, refs, capabilities) => {
    for (const byByte of [false, true]) {
      const result = decode(input, { byByte });
      expect(refsOf(result), `byByte=${byByte}`).toEqual(refs);
      expect((result as Advertisement).capabilities).toEqual(capabilities);
    }
  });

  it('is incomplete until the flush arrives, and ignores bytes after it', () => {
    const decoder = new AdvertisementDecoder();
    expect(decoder.push(Buffer.from(pkt(`${A} refs/heads/main\0\n`)))).toBeUndefined();
    expect(decoder.push(Buffer.from('00'))).toBeUndefined();
    const done = decoder.push(Buffer.from('00garbage that is never read'));
    expect(done && Object.fromEntries(done.refs)).toEqual({ 'refs/heads/main': A });
    expect(decoder.push(Buffer.from('zzzz'))).toBe(done);
  });

  it('is undefined for an advertisement cut short, at any byte', () => {
    const input = VALID[0]![1];
    for (let end = 0; end < input.length; end++) expect(decode(input.slice(0, end))).toBeUndefined();
  });
});

const BAD: Array<[string, string, AdvertisementError['problem'], RegExp]> = [
  [
    'an ERR line',
    pkt('ERR access denied or repository not exported: /x.git\n'),
    'remote',
    /^remote error: access denied or repository not exported: \/x\.git$/,
  ],
  [
    'an ERR line after refs',
    pkt(`${A} refs/heads/main\0\n`) + pkt('ERR upload-pack: not our ref'),
    'remote',
    /^remote error: upload-pack: not our ref$/,
  ],
  ['a length that is not hex', 'zzzz', 'protocol', /^bad pkt-line length "zzzz" \(not four hex digits\)$/],
  [
    'HTTP instead of git',
    'HTTP/1.1 400 Bad Request\r\n\r\n',
    'protocol',
    /^bad pkt-line length "HTTP" \(not four hex digits\)$/,
  ],
  ['a delim packet', '0001', 'protocol', /unexpected special pkt-line 0001 in a protocol v0 ref advertisement/],
  ['length 3', '0003', 'protocol', /unexpected special pkt-line 0003/],
  ['a line longer than 65520', 'fff1', 'protocol', /^pkt-line of 65521 bytes is longer than the 65520 allowed$/],
  [
    'protocol v2',
    pkt('version 2\n') + pkt('agent=git/2.39.5\n') + '0000',
    'protocol',
    /^the remote answered with protocol 2, not v0$/,
  ],
  [
    'a sha that is not hex',
    pkt(`${'g'.repeat(40)} refs/heads/main\0\n`) + '0000',
    'protocol',
    /^not an object id at the start of ref line "ggg/,
  ],
  ['a short sha', pkt(`${'a'.repeat(39)} refs/heads/main\0\n`) + '0000', 'protocol', /^not an object id/],
  ['no ref name', pkt(`${A}\0agent=x\n`) + '0000', 'protocol', /^bad ref name in ref line/],
  ['a ref name with a space', pkt(`${A} refs/heads/a b\n`) + '0000', 'protocol', /^bad ref name in ref line/],
  ['an empty line', pkt('') + '0000', 'protocol', /^not an object id/],
  [
    'capabilities on a later line',
    pkt(`${A} refs/heads/a\0x\n`) + pkt(`${B} refs/heads/b\0y\n`) + '0000',
    'protocol',
    /^capabilities after the first ref line/,
  ],
  [
    'capabilities^{} after a ref',
    pkt(`${A} refs/heads/a\0x\n`) + pkt(`${ZERO} capabilities^{}\n`) + '0000',
    'protocol',
    /^capabilities\^\{\} where a ref was expected/,
  ],
  [
    'capabilities^{} with a real sha',
    pkt(`${A} capabilities^{}\0x\n`) + '0000',
    'protocol',
    /^capabilities\^\{\} where a ref was expected/,
  ],
];

describe('AdvertisementDecoder: errors', () => {
  it.each(BAD)('%s, whole and split at every byte', (_name, input, problem, message) => {
    for (const byByte of [false, true]) {
      const result = decode(input, { byByte });
      expect(result, `byByte=${byByte}`).toBeInstanceOf(AdvertisementError);
      expect((result as AdvertisementError).problem).toBe(problem);
      expect((result as Error).message).toMatch(message);
    }
  });

  it('shows at most a short, quoted excerpt of what the peer sent', () => {
    const result = decode(pkt(`${'x'.repeat(2000)} refs/heads/main\n`) + '0000') as Error;
    expect(result.message.length).toBeLessThan(120);
    expect(result.message).toMatch(/"x{48}…"$/);
  });

  it('refuses an advertisement larger than its cap, whole or in pieces, before reading it all', () => {
    const line = pkt(`${A} refs/heads/branch-000\n`);
    const big = pkt(`${A} HEAD\0agent=x\n`) + line.repeat(100) + '0000';
    expect(refsOf(decode(big, { maxBytes: big.length }))).toMatchObject({ HEAD: A });
    for (const byByte of [false, true]) {
      const result = decode(big, { maxBytes: 1000, byByte }) as AdvertisementError;
      expect(result).toBeInstanceOf(AdvertisementError);
      expect(result.problem).toBe('too-large');
      expect(result.message).toBe('the ref advertisement is larger than 1000 bytes (a remote with a huge ref list)');
    }
  });

  it('caps at 8 MB by default', () => {
    const decoder = new AdvertisementDecoder();
    const chunk = Buffer.from(pkt(`${A} refs/heads/x\n`).repeat(1000));
    let error: unknown;
    try {
      for (let sent = 0; sent <= 8 * 1024 * 1024; sent += chunk.length) decoder.push(chunk);
    } catch (e) {
      error = e;
    }
    expect((error as AdvertisementError).problem).toBe('too-large');
    expect(decoder.bytes).toBeGreaterThan(8 * 1024 * 1024);
  });
});
