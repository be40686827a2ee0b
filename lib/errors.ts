/**
 * Errors every layer may throw about its input.
 * @module
 */

/** A bad command line or setting: ctr prints it and exits 125, as docker does. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
