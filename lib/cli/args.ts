/**
 * A small command-line parser with docker's conventions: `--opt value`,
 * `--opt=value`, `-e K=V`, combined short flags (`-it`), repeated options,
 * flags whose value is optional (`--net`, `--net=host`), and option parsing
 * that stops at the first positional (so `run IMAGE sh -c ...` keeps `-c`).
 * @module
 */

import { UsageError } from "../errors.ts";

/** One option of a command. */
export interface OptionSpec {
  /** Long name, without dashes. */
  readonly name: string;
  /** Other long names. */
  readonly aliases?: readonly string[];
  /** One-letter short name. */
  readonly short?: string;
  /**
   * bool: no value (`--x=false` sets false); string: one value (last wins);
   * list: repeatable; optional: bool or `=value`.
   */
  readonly type: "bool" | "string" | "list" | "optional";
  /**
   * An optional flag also takes the next word as its value when the word
   * matches (`--net host`, as docker reads `--net`): words no image is named.
   */
  readonly values?: RegExp;
  /** Value name and description, for help. */
  readonly arg?: string;
  readonly help: string;
  /**
   * A docker flag ctr does not do, and why: given, it is an error naming the
   * flag and the reason (never taken for something else); help leaves it out,
   * docs/cli.md lists it as refused.
   */
  readonly refused?: string;
}

/** Parsed options and positionals. */
export interface Parsed {
  readonly opts: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
}

export { UsageError };

/**
 * Parses `argv` against `specs`. With `stopAtPositional`, everything from the
 * first positional on is positional (`interleave` positionals first: the
 * number of leading positionals that may be followed by more options).
 */
export function parseArgs(
  argv: readonly string[],
  specs: readonly OptionSpec[],
  options: { stopAfterPositionals?: number } = {},
): Parsed {
  const byLong = new Map<string, OptionSpec>();
  const byShort = new Map<string, OptionSpec>();
  for (const s of specs) {
    byLong.set(s.name, s);
    for (const a of s.aliases ?? []) byLong.set(a, s);
    if (s.short) byShort.set(s.short, s);
  }
  const opts: Parsed["opts"] = {};
  const positionals: string[] = [];
  const stopAfter = options.stopAfterPositionals ?? Infinity;
  const set = (spec: OptionSpec, value: string | true, shown: string) => {
    if (spec.refused !== undefined) {
      throw new UsageError(`${shown} is not supported: ${spec.refused}`);
    }
    if (spec.type === "list") {
      if (value === true) throw new UsageError(`flag needs an argument: ${shown}`);
      ((opts[spec.name] as string[] | undefined) ??= []).push(value);
    } else {
      opts[spec.name] = value;
    }
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      i++;
      break;
    }
    if (a.startsWith("--") && a.length > 2) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
      if (eq >= 0) {
        if (spec.type === "bool") {
          const v = a.slice(eq + 1);
          if (spec.refused !== undefined) set(spec, true, `--${name}`);
          if (v !== "true" && v !== "false") {
            throw new UsageError(
              `invalid value ${JSON.stringify(v)} for flag --${name}: expected true or false`,
            );
          }
          // false is kept: a flag whose default is true (--sig-proxy) is turned off so.
          opts[spec.name] = v === "true";
        } else set(spec, a.slice(eq + 1), `--${name}`);
      } else if (spec.type === "optional" && spec.values?.test(argv[i + 1] ?? "")) {
        set(spec, argv[++i], `--${name}`);
      } else if (spec.type === "bool" || spec.type === "optional") {
        set(spec, true, `--${name}`);
      } else {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`);
        set(spec, argv[++i], `--${name}`);
      }
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const spec = byShort.get(a[j]);
        if (!spec) throw new UsageError(`unknown shorthand flag: '${a[j]}' in ${a}`);
        if (spec.type === "bool" && a[j + 1] === "=") {
          const v = a.slice(j + 2);
          if (v !== "true" && v !== "false") {
            throw new UsageError(
              `invalid value ${JSON.stringify(v)} for flag -${a[j]}: expected true or false`,
            );
          }
          if (spec.refused !== undefined) set(spec, true, `-${a[j]}`);
          opts[spec.name] = v === "true";
          break;
        }
        if (spec.type === "bool" || spec.type === "optional") {
          set(spec, true, `-${a[j]}`);
          continue;
        }
        const rest = a.slice(j + 1);
        if (rest) set(spec, rest.startsWith("=") ? rest.slice(1) : rest, `-${a[j]}`);
        else if (i + 1 < argv.length) set(spec, argv[++i], `-${a[j]}`);
        else throw new UsageError(`flag needs an argument: '${a[j]}' in -${a[j]}`);
        break;
      }
      continue;
    }
    positionals.push(a);
    if (positionals.length >= stopAfter) {
      i++;
      break;
    }
  }
  positionals.push(...argv.slice(i));
  return { opts, positionals };
}

/** Help text for a list of options. */
export function optionsHelp(specs: readonly OptionSpec[]): string {
  const rows = specs.filter((s) => s.refused === undefined).map((s) => {
    const names = [s.short ? `-${s.short}, ` : "    ", `--${s.name}`].join("");
    const arg = s.arg ? (s.type === "optional" ? `[=${s.arg}]` : ` ${s.arg}`) : "";
    return [names + arg, s.help] as const;
  });
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([a, h]) => `  ${a.padEnd(w)}${h}`).join("\n");
}
