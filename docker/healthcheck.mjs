// The image's HEALTHCHECK: GET hotpull's /healthz (200 once a sync succeeded; 503 while failing) at the address
// in HOTPULL_LISTEN, the same forms hotpull accepts: PORT, HOST:PORT, [IPv6]:PORT. A wildcard host is asked on
// loopback. Without HOTPULL_LISTEN there is nothing to ask, which counts as healthy.
const listen = (process.env.HOTPULL_LISTEN ?? '').trim();
if (!listen) {
  console.log('HOTPULL_LISTEN is not set: no /healthz to check');
  process.exit(0);
}
const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(listen);
if (!match) {
  console.log(`HOTPULL_LISTEN is not [HOST:]PORT (got ${JSON.stringify(listen)})`);
  process.exit(1);
}
const wildcard = { '0.0.0.0': '127.0.0.1', '[::]': '[::1]' };
const host = wildcard[match[1] ?? ''] ?? match[1] ?? '127.0.0.1';
const url = `http://${host}:${match[2]}/healthz`;
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(4000) });
  console.log(`${url}: ${response.status} ${(await response.text()).trim().slice(0, 200)}`);
  process.exit(response.ok ? 0 : 1);
} catch (error) {
  console.log(`${url}: ${error.cause?.code ?? error.message}`);
  process.exit(1);
}
