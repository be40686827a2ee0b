/**
 * The small display conventions docker's list commands share: go-units'
 * durations and sizes, Go's `time.Time.String()`, and the ellipsis that
 * truncates a column. Pure functions: the clock and the zone are arguments.
 * @module
 */

import { displayWidth } from "./tabwriter.ts";

/**
 * go-units' HumanDuration: "Less than a second", "1 second", "5 minutes",
 * "About an hour", "3 days", "2 weeks", "4 months", "2 years".
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** Go's `%.Ng`: `precision` significant digits, trailing zeros dropped. */
function goG(v: number, precision: number): string {
  if (v === 0) return "0";
  return String(Number(v.toPrecision(precision)));
}

/**
 * go-units' HumanSizeWithPrecision: powers of 1000 (`1.98MB`, `124B`), with
 * `precision` significant digits (docker's lists use 3, `system df` 4).
 */
export function decimalSize(bytes: number, precision = 3): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let v = bytes, i = 0;
  while (v >= 1000 && i < units.length - 1) v /= 1000, i++;
  return `${goG(v, precision)}${units[i]}`;
}

/** go-units' BytesSize: powers of 1024 with four significant digits (`344KiB`, `23.54GiB`). */
export function binarySize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = bytes, i = 0;
  while (v >= 1024 && i < units.length - 1) v /= 1024, i++;
  return `${goG(v, 4)}${units[i]}`;
}

/**
 * Go's `time.Time.String()` in a zone `offsetMinutes` east of UTC (the local
 * one by default): `2024-01-02 15:04:05 +0000 UTC`. Go prints the zone's
 * abbreviation; ctr knows only UTC's, and prints the offset for others.
 */
export function goTimeString(
  date: Date,
  offsetMinutes = -date.getTimezoneOffset(),
): string {
  const local = new Date(date.getTime() + offsetMinutes * 60_000);
  const iso = local.toISOString();
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  const off = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}${
    String(abs % 60).padStart(2, "0")
  }`;
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} ${off} ${offsetMinutes === 0 ? "UTC" : off}`;
}

/**
 * docker's Ellipsis: `s` when it fits `width` columns, else as many leading
 * characters as fit in `width - 1` columns and `…`.
 */
export function ellipsis(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  let out = "";
  for (const ch of s) {
    if (displayWidth(out + ch) > width - 1) break;
    out += ch;
  }
  return out + "…";
}

/** Go's strconv.Quote: the quoting of `%q` in docker's history lines. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (ch === "\x07") out += "\\a";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\v") out += "\\v";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else if (c >= 0x80 && c < 0xa0) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += ch;
  }
  return out + '"';
}
