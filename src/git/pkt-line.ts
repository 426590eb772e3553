/**
 * git's pkt-line framing and the protocol v0 ref advertisement, as `git daemon` sends it after
 * `git-upload-pack <path>\0host=<host>\0` (see gitprotocol-pack(5)). Pure: bytes in, refs or an error out; the
 * socket is native-ls-remote.ts's.
 *
 * A pkt-line is four hex digits giving the length of the whole line (header included), then the data; `0000` is a
 * flush. The advertisement is one line per ref, `<sha> <ref>`, the first one with `\0<capabilities>` after it, and
 * ends with a flush. An empty repository sends one line, `<zero sha> capabilities^{}\0<capabilities>`.
 */

/** The longest pkt-line git sends or takes (LARGE_PACKET_MAX), header included. */
export const MAX_PKT_LINE = 65520;
const MAX_PKT_DATA = MAX_PKT_LINE - 4;
/** Past this the advertisement is not worth reading here (a remote with a huge ref list): git does it instead. */
export const DEFAULT_MAX_ADVERTISEMENT_BYTES = 8 * 1024 * 1024;
export const FLUSH_PKT = '0000';

/** What went wrong: the remote said ERR, it sent something that is not the protocol, or more than the cap. */
export type AdvertisementProblem = 'remote' | 'protocol' | 'too-large';

export class AdvertisementError extends Error {
  override name = 'AdvertisementError';
  constructor(
    readonly problem: AdvertisementProblem,
    message: string,
  ) {
    super(message);
  }
}

/** One pkt-line holding `data` (a string is sent as UTF-8). */
export function encodePktLine(data: string | Uint8Array): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  if (bytes.length > MAX_PKT_DATA)
    throw new RangeError(`a pkt-line holds at most ${MAX_PKT_DATA} bytes of data (got ${bytes.length})`);
  return Buffer.concat([Buffer.from((bytes.length + 4).toString(16).padStart(4, '0'), 'ascii'), bytes]);
}

/** The request that opens a git:// connection: which service, which repository, and the Host git would name. */
export function uploadPackRequest(path: string, host: string): Buffer {
  return encodePktLine(`git-upload-pack ${path}\0host=${host}\0`);
}

export interface Advertisement {
  /** ref name → sha (lower-case hex), in the order sent; peeled tags (`^{}`) included as sent */
  refs: Map<string, string>;
  capabilities: string[];
}

const SHA = /^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/;
const ZERO_SHA = /^0+$/;

/** For messages: a short, printable rendering of bytes a peer sent (never more than 60 characters). */
function shown(bytes: Uint8Array): string {
  const text = JSON.stringify(Buffer.from(bytes.subarray(0, 48)).toString('latin1'));
  return bytes.length > 48 ? `${text.slice(0, -1)}…"` : text;
}

/**
 * Reads a ref advertisement fed in chunks of any size (down to one byte): `push` returns the advertisement once
 * its flush has arrived, undefined while more is needed, and throws AdvertisementError on an ERR line, on anything
 * that is not the protocol, or when the advertisement grows past `maxBytes`. Bytes after the flush are not read.
 */
export class AdvertisementDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private received = 0;
  private lines = 0;
  private done?: Advertisement;
  private readonly refs = new Map<string, string>();
  private capabilities: string[] = [];

  constructor(private readonly maxBytes: number = DEFAULT_MAX_ADVERTISEMENT_BYTES) {}

  /** bytes taken so far */
  get bytes(): number {
    return this.received;
  }

  push(chunk: Uint8Array): Advertisement | undefined {
    if (this.done) return this.done;
    this.received += chunk.length;
    if (this.received > this.maxBytes)
      throw new AdvertisementError(
        'too-large',
        `the ref advertisement is larger than ${this.maxBytes} bytes (a remote with a huge ref list)`,
      );
    this.pending.push(Buffer.from(chunk));
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < 4) return undefined;
    // One copy of what is pending, then every complete line in it; the incomplete rest is kept (≤ one line).
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    let at = 0;
    while (data.length - at >= 4) {
      const length = this.lineLength(data.subarray(at, at + 4));
      if (length === 0) {
        this.done = this.finish();
        return this.done;
      }
      if (data.length - at < length) break;
      this.line(data.subarray(at + 4, at + length));
      at += length;
    }
    const rest = data.subarray(at);
    this.pending = rest.length > 0 ? [Buffer.from(rest)] : [];
    this.pendingBytes = rest.length;
    return undefined;
  }

  private lineLength(header: Buffer): number {
    const text = header.toString('latin1');
    if (!/^[0-9a-fA-F]{4}$/.test(text))
      throw new AdvertisementError('protocol', `bad pkt-line length ${shown(header)} (not four hex digits)`);
    const length = parseInt(text, 16);
    if (length === 0) return 0;
    if (length < 4)
      throw new AdvertisementError(
        'protocol',
        `unexpected special pkt-line ${text} in a protocol v0 ref advertisement (only 0000 ends it)`,
      );
    if (length > MAX_PKT_LINE)
      throw new AdvertisementError(
        'protocol',
        `pkt-line of ${length} bytes is longer than the ${MAX_PKT_LINE} allowed`,
      );
    return length;
  }

  private line(raw: Buffer): void {
    const first = this.lines === 0;
    this.lines += 1;
    const data = raw[raw.length - 1] === 0x0a ? raw.subarray(0, -1) : raw;
    if (data.subarray(0, 4).toString('latin1') === 'ERR ')
      throw new AdvertisementError('remote', `remote error: ${data.subarray(4).toString('utf8').trim()}`);
    const text = data.toString('utf8');
    if (first && text === 'version 1') {
      this.lines = 0; // the ref lines follow as in v0
      return;
    }
    if (/^version \d+$/.test(text))
      throw new AdvertisementError('protocol', `the remote answered with protocol ${text.slice(8)}, not v0`);
    if (text.startsWith('shallow ')) return; // a shallow remote names its boundary commits after the refs
    const nul = text.indexOf('\0');
    const refPart = nul < 0 ? text : text.slice(0, nul);
    if (nul >= 0) {
      if (!first) throw new AdvertisementError('protocol', `capabilities after the first ref line: ${shown(data)}`);
      this.capabilities = text
        .slice(nul + 1)
        .split(' ')
        .filter(Boolean);
    }
    const space = refPart.indexOf(' ');
    const sha = space < 0 ? refPart : refPart.slice(0, space);
    const ref = space < 0 ? '' : refPart.slice(space + 1);
    if (!SHA.test(sha))
      throw new AdvertisementError('protocol', `not an object id at the start of ref line ${shown(data)}`);
    if (ref === '' || /[\s\0]/.test(ref))
      throw new AdvertisementError('protocol', `bad ref name in ref line ${shown(data)}`);
    if (ref === 'capabilities^{}') {
      // an empty repository: the line only carries the capabilities
      if (!first || !ZERO_SHA.test(sha))
        throw new AdvertisementError('protocol', `capabilities^{} where a ref was expected: ${shown(data)}`);
      return;
    }
    this.refs.set(ref, sha.toLowerCase());
  }

  private finish(): Advertisement {
    return { refs: this.refs, capabilities: this.capabilities };
  }
}
