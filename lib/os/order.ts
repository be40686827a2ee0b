/**
 * Ordering of strings by code unit, as Go's sort.Strings (and so docker)
 * orders names and times. String.prototype.localeCompare would do for ASCII
 * too, but its first call loads ICU's collation data: milliseconds on every
 * command that sorts anything.
 * @module
 */

/** -1, 0 or 1 as `a` sorts before, with or after `b` (code unit order). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
