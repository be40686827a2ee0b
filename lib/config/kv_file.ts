/**
 * docker's `--env-file` and `--label-file` syntax: one `KEY=value` a line;
 * leading white space and blank lines are skipped, `#` starts a comment
 * line, the value is taken verbatim (no quotes, no trailing trim), a UTF-8
 * byte order mark on the first line is dropped, and `KEY` alone takes the
 * variable from ctr's environment (env files) or is dropped (label files,
 * and variables that are not set). Pure.
 * @module
 */

/** What a line without `=` becomes: the environment's value, or nothing. */
export type LookupEnv = (key: string) => string | undefined;

const WHITESPACE = /[ \t\n\v\f\r]/;

/**
 * The `KEY=value` entries of a file's text, in order. `lookup` resolves a
 * bare `KEY` (env files); without it a bare key is dropped (label files).
 * `path` names the file in errors, which read as docker's.
 */
export function parseKeyValueFile(
  text: string,
  opts: { path: string; lookup?: LookupEnv },
): string[] {
  const out: string[] = [];
  const lines = text.split("\n");
  // A last line without newline is a line; the empty string after a final newline is not.
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((raw, i) => {
    let line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (i === 0 && line.startsWith("\uFEFF")) line = line.slice(1);
    if (line.includes("\uFFFD")) {
      throw new Error(`env file ${opts.path} contains invalid utf8 bytes at line ${i + 1}`);
    }
    line = line.replace(/^\s+/u, "");
    if (line === "" || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    const key = eq < 0 ? line : line.slice(0, eq);
    if (WHITESPACE.test(key)) {
      throw new Error(`poorly formatted environment: variable '${key}' contains whitespaces`);
    }
    if (key === "") {
      throw new Error(`poorly formatted environment: no variable name on line '${line}'`);
    }
    if (eq >= 0) {
      out.push(`${key}=${line.slice(eq + 1)}`);
      return;
    }
    const value = opts.lookup?.(key.trim());
    if (value !== undefined) out.push(`${key.trim()}=${value}`);
  });
  return out;
}

/** Decodes a file's bytes for parseKeyValueFile: invalid UTF-8 shows as U+FFFD, which it refuses. */
export function decodeKeyValueFile(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(bytes);
}
