import type http from 'node:http';
import { HttpError } from './http-error.js';
import type { ByteBudget } from './limits.js';

export interface BodyLimits {
  /** bytes this route reads at most */
  limit: number;
  /** shared by every body being buffered */
  budget: ByteBudget;
  /** the whole body within this */
  timeoutMs: number;
}

/**
 * Reads a request body within its route limit, the shared budget and a deadline. The bytes taken from the
 * budget stay taken until the caller gives back `body.length` (after it is done with the body); on a refusal
 * they are given back here. Every refusal closes the connection: nothing more of that request is read.
 */
export function readBody(req: http.IncomingMessage, { limit, budget, timeoutMs }: BodyLimits): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new HttpError(413, `body over ${limit} bytes`, 'too_large', true));
  if (declared > budget.total - budget.inUse)
    return Promise.reject(
      new HttpError(503, 'busy: too many request bodies in flight, retry later', 'body_budget', true),
    );
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error?: HttpError) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('close', onAborted).off('error', onAborted);
      if (!error) return resolve(Buffer.concat(chunks, size));
      budget.give(size);
      chunks.length = 0;
      req.pause();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > limit) return finish(new HttpError(413, `body over ${limit} bytes`, 'too_large', true));
      if (!budget.take(chunk.length))
        return finish(new HttpError(503, 'busy: too many request bodies in flight, retry later', 'body_budget', true));
      size += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => finish();
    const onAborted = () => finish(new HttpError(400, 'request aborted', 'aborted', true));
    const timer = setTimeout(
      () => finish(new HttpError(408, `body not complete within ${timeoutMs / 1000}s`, 'body_timeout', true)),
      timeoutMs,
    );
    req.on('data', onData).on('end', onEnd).on('close', onAborted).on('error', onAborted);
  });
}
