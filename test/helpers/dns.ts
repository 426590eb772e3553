/**
 * A tiny DNS responder on 127.0.0.1 (UDP, port 0) for tests of `--peers dns:…`: A and AAAA records from a table,
 * NXDOMAIN for any other name. The code under test is pointed at it (node:dns Resolver.setServers), so no lookup
 * leaves the machine (the system resolver here is a remote server).
 */
import dgram from 'node:dgram';

export interface DnsResponder {
  server: string;
  /** the names asked, in order */
  asked: string[];
  close(): Promise<void>;
}

function readName(msg: Buffer, at: number): { name: string; end: number } {
  const labels: string[] = [];
  while (msg[at]! > 0) {
    labels.push(msg.subarray(at + 1, at + 1 + msg[at]!).toString('ascii'));
    at += 1 + msg[at]!;
  }
  return { name: labels.join('.').toLowerCase(), end: at + 1 };
}

function address(ip: string, type: number): Buffer {
  if (type === 1) return Buffer.from(ip.split('.').map(Number));
  // AAAA: expand :: and write eight 16-bit groups
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

/** `records`: name → addresses (IPv4 and IPv6 mixed). */
export async function dnsResponder(records: Record<string, string[]>): Promise<DnsResponder> {
  const socket = dgram.createSocket('udp4');
  const asked: string[] = [];
  socket.on('message', (msg, from) => {
    const { name, end } = readName(msg, 12);
    const type = msg.readUInt16BE(end);
    asked.push(name);
    const known = records[name.replace(/\.$/, '')];
    const answers = (known ?? []).filter((ip) => (type === 28 ? ip.includes(':') : type === 1 && !ip.includes(':')));
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // response, recursion desired + available; NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const question = msg.subarray(12, end + 4);
    const rrs = answers.map((ip) => {
      const data = address(ip, type);
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(type, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(5, 6);
      rr.writeUInt16BE(data.length, 10);
      return Buffer.concat([rr, data]);
    });
    socket.send(Buffer.concat([header, question, ...rrs]), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    server: `127.0.0.1:${socket.address().port}`,
    asked,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
