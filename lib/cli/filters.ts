/**
 * docker's `--filter KEY=VALUE`: the values given for one key are alternatives
 * (any may match), different keys must all match. Each list command names the
 * keys it knows; an unknown key is an error, as docker's daemon answers
 * `Invalid filter 'KEY'`. Pure: the matchers take plain data.
 * @module
 */

import { UsageError } from "./args.ts";
import { goMatch } from "../image/build/_match.ts";

/** Parsed filters: key to the values given for it. */
export class Filters {
  constructor(readonly byKey: ReadonlyMap<string, readonly string[]> = new Map()) {}

  /**
   * Parses `--filter` values (`name=web`, `label=a=b`, `dangling=true`);
   * keys outside `allowed` are refused.
   */
  static parse(list: readonly string[] | undefined, allowed: readonly string[]): Filters {
    const m = new Map<string, string[]>();
    for (const f of list ?? []) {
      const eq = f.indexOf("=");
      if (eq <= 0) {
        throw new UsageError(`bad format of filter (expected name=value): ${JSON.stringify(f)}`);
      }
      const key = f.slice(0, eq).trim().toLowerCase();
      if (!allowed.includes(key)) {
        throw new UsageError(`Invalid filter '${key}' (known: ${allowed.join(", ")})`);
      }
      const values = m.get(key) ?? [];
      values.push(f.slice(eq + 1));
      m.set(key, values);
    }
    return new Filters(m);
  }

  /** Whether any value was given for `key`. */
  has(key: string): boolean {
    return (this.byKey.get(key)?.length ?? 0) > 0;
  }

  /** The values of `key` (none: empty). */
  values(key: string): readonly string[] {
    return this.byKey.get(key) ?? [];
  }

  /** True when `key` was not given, or when `pred` holds for one of its values. */
  match(key: string, pred: (value: string) => boolean): boolean {
    const v = this.byKey.get(key);
    return v === undefined || v.length === 0 || v.some(pred);
  }

  /** A boolean filter (`dangling=true`): undefined when not given; a value other than true/false is an error. */
  bool(key: string): boolean | undefined {
    const v = this.values(key);
    if (v.length === 0) return undefined;
    const last = v[v.length - 1].toLowerCase();
    if (last !== "true" && last !== "false" && last !== "1" && last !== "0") {
      throw new UsageError(`Invalid filter '${key}=${v[v.length - 1]}': expected true or false`);
    }
    return last === "true" || last === "1";
  }
}

/** `label=KEY` (the label is there) or `label=KEY=VALUE` (with that value). */
export function labelMatches(labels: Readonly<Record<string, string>>, spec: string): boolean {
  const eq = spec.indexOf("=");
  if (eq < 0) return Object.hasOwn(labels, spec);
  const key = spec.slice(0, eq);
  return Object.hasOwn(labels, key) && labels[key] === spec.slice(eq + 1);
}

/** docker's `label!=` is not in 20.10; `label` filters must all hold (AND), as docker's. */
export function labelsMatch(filters: Filters, labels: Readonly<Record<string, string>>): boolean {
  return filters.values("label").every((l) => labelMatches(labels, l));
}

/**
 * `name=` as docker matches it: a regular expression searched in the name
 * (`name=web` matches `web-1`); a pattern that is no regular expression is
 * taken literally.
 */
export function nameMatches(name: string, pattern: string): boolean {
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return name.includes(pattern);
  }
}

/**
 * `reference=` of `images`: Go's path.Match of the pattern against the
 * familiar name with its tag (`busybox:latest`) or without (`busybox`).
 */
export function referenceMatches(familiar: string, pattern: string): boolean {
  const colon = familiar.lastIndexOf(":");
  const repo = colon > familiar.lastIndexOf("/") ? familiar.slice(0, colon) : familiar;
  try {
    return goMatch(pattern, familiar) || goMatch(pattern, repo);
  } catch {
    return false;
  }
}
