/** How many characters of a commit id logs, status output and messages show: 7, as git does and as {short_sha}. */
export const SHORT_SHA_LENGTH = 7;

/** The short form of a commit id (undefined stays undefined, for optional fields). */
export function shortSha(sha: string): string;
export function shortSha(sha: string | undefined): string | undefined;
export function shortSha(sha: string | undefined): string | undefined {
  return sha?.slice(0, SHORT_SHA_LENGTH);
}
