/** A refusal the listener answers with: status, a one-line message for the client, and the metric reason. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly metric: string,
    /** close the connection after answering: the rest of the request is not read */
    readonly close = false,
  ) {
    super(message);
  }
}
