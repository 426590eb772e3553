import type net from 'node:net';
import { configError, type HotpullError } from '../errors.js';
import type { ListenAddress } from '../config/options.js';

const display = ({ host, port }: ListenAddress) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** Why --listen could not bind, in words: the option, the rule and the value, no stack. Pure. */
export function listenErrorMessage(address: ListenAddress, error: NodeJS.ErrnoException): string {
  const got = JSON.stringify(display(address));
  switch (error.code) {
    case 'EADDRINUSE':
      return `--listen must name a free port (got ${got}: another process is listening there, EADDRINUSE)`;
    case 'EADDRNOTAVAIL':
      return `--listen must be an address of this machine (got ${got}: no interface has it, EADDRNOTAVAIL); 0.0.0.0 listens on all of them`;
    case 'EACCES':
    case 'EPERM':
      return `--listen must be a port this user may bind (got ${got}: ${error.code}; ports under 1024 need privileges)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `--listen must be an IP address or a host name that resolves (got ${got}: ${error.code})`;
    default:
      return `--listen could not bind ${got}: ${error.code ?? error.message}`;
  }
}

/** Binds the server; a failure is a configuration error (exit 2, one line), never a stack trace. */
export function bind(server: net.Server, address: ListenAddress): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) =>
      reject(configError(listenErrorMessage(address, error), error) as HotpullError);
    server.once('error', onError);
    server.listen(address.port, address.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
