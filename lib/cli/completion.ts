/**
 * `ctr completion bash|zsh`: shell completion scripts made from the command
 * table (commands.ts) and the option tables it points at, so completion
 * offers exactly what the commands take. Containers, images, networks and
 * volumes are completed by asking ctr itself (`ps -a --format`, ...) with
 * the `--root` and `--state-dir` given on the line being completed.
 * @module
 */

import type { OptionSpec } from "./args.ts";
import type { ArgKind, CommandSpec } from "./command_spec.ts";

/** What completion needs of one command: its words, its options, what its arguments are. */
export interface CompletionEntry {
  /** `ps`, `container ls`. */
  readonly path: string;
  readonly summary: string;
  /** Subcommands (management commands). */
  readonly subcommands: readonly { name: string; summary: string }[];
  /** Every spelling of every option (`-a`, `--all`). */
  readonly flags: readonly string[];
  /** The spellings of options that take a value. */
  readonly valueFlags: readonly string[];
  readonly args: ArgKind;
}

/** The global options, as main.ts parses them. */
const GLOBAL_FLAGS = ["--root", "--state-dir", "--log-level", "--help", "--version", "-v"];
const GLOBAL_VALUE_FLAGS = ["--root", "--state-dir", "--log-level"];

function spellings(o: OptionSpec): string[] {
  return [
    `--${o.name}`,
    ...(o.aliases ?? []).map((a) => `--${a}`),
    ...(o.short ? [`-${o.short}`] : []),
  ];
}

/**
 * The completion table: one entry per command and subcommand (`all`, as
 * commands.ts's allCommands() lists them), options loaded from their tables.
 */
export async function completionTable(
  all: readonly { path: string; spec: CommandSpec }[],
): Promise<CompletionEntry[]> {
  const out: CompletionEntry[] = [];
  for (const { path, spec } of all) {
    if (spec.hidden) continue;
    const options = ((await spec.options?.()) ?? []).filter((o) => o.refused === undefined);
    out.push({
      path,
      summary: spec.summary,
      subcommands: (spec.subcommands ?? []).map((s) => ({ name: s.name, summary: s.summary })),
      flags: [...options.flatMap(spellings), "--help"],
      valueFlags: options.filter((o) => o.type === "string" || o.type === "list").flatMap(
        spellings,
      ),
      args: spec.subcommands ? "none" : spec.args ?? "none",
    });
  }
  return out;
}

const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

const LISTERS: Record<string, string> = {
  container: `ps -a --format '{{.Names}}'`,
  image: `images --format '{{.Repository}}:{{.Tag}}'`,
  network: `network ls --format '{{.Name}}'`,
  volume: `volume ls -q`,
};

/** The bash script. */
export function bashScript(table: readonly CompletionEntry[], top: readonly CommandSpec[]): string {
  const cases = table.map((e) =>
    `    ${shq(e.path)}) flags=${shq(e.flags.join(" "))}; vflags=${shq(e.valueFlags.join(" "))}; ` +
    `kind=${e.args}; subs=${shq(e.subcommands.map((s) => s.name).join(" "))} ;;`
  ).join("\n");
  const commands = top.filter((c) => !c.hidden).map((c) => c.name).join(" ");
  const management = top.filter((c) => c.subcommands).map((c) => c.name).join("|");
  return `# bash completion for ctr, made by 'ctr completion bash' from ctr's own command tables.
# Load it with: source <(ctr completion bash)

_ctr_list() {
  local kind=$1; shift
  case $kind in
${
    Object.entries(LISTERS).map(([k, v]) =>
      `    ${k}) "\${_ctr_bin:-ctr}" "$@" ${v} 2>/dev/null ;;`
    ).join(
      "\n",
    )
  }
  esac
}

_ctr() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local _ctr_bin=\${COMP_WORDS[0]}
  local -a globals=()
  local path="" i=1 w
  while (( i < COMP_CWORD )); do
    w=\${COMP_WORDS[i]}
    case $w in
      ${GLOBAL_VALUE_FLAGS.join("|")})
        if [[ -z $path ]]; then globals+=("$w" "\${COMP_WORDS[i+1]}"); (( i += 2 )); continue; fi ;;
      --root=*|--state-dir=*) [[ -z $path ]] && globals+=("$w") ;;
      -*) ;;
      *)
        if [[ -z $path ]]; then path=$w
        elif [[ $path == @(${management}) ]]; then path="$path $w"
        fi ;;
    esac
    (( i++ ))
  done
  if [[ -z $path ]]; then
    if [[ $prev == @(${GLOBAL_VALUE_FLAGS.join("|")}) ]]; then
      [[ $prev == --log-level ]] && COMPREPLY=($(compgen -W "error warn info debug" -- "$cur")) ||
        COMPREPLY=($(compgen -d -- "$cur"))
      return
    fi
    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W ${shq(GLOBAL_FLAGS.join(" "))} -- "$cur"))
    else COMPREPLY=($(compgen -W ${shq(commands)} -- "$cur")); fi
    return
  fi
  local flags="" vflags="" kind=none subs=""
  case $path in
${cases}
    *) return ;;
  esac
  if [[ -n $subs ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    return
  fi
  if [[ " $vflags " == *" $prev "* ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi
  case $kind in
    file) COMPREPLY=($(compgen -f -- "$cur")) ;;
    none) ;;
    *) COMPREPLY=($(compgen -W "$(_ctr_list "$kind" "\${globals[@]}")" -- "$cur")) ;;
  esac
}

complete -F _ctr ctr
`;
}

/** The zsh script. */
export function zshScript(table: readonly CompletionEntry[], top: readonly CommandSpec[]): string {
  const esc = (s: string) => s.replaceAll("'", "'\\''").replaceAll(":", "\\:");
  const describe = (items: readonly { name: string; summary: string }[]) =>
    items.map((i) => `'${esc(i.name)}:${esc(i.summary)}'`).join(" ");
  const cases = table.map((e) => {
    const subs = e.subcommands.length ? `subs=(${describe(e.subcommands)})` : "subs=()";
    return `    ${shq(e.path)}) flags=(${e.flags.join(" ")}); vflags=(${
      e.valueFlags.join(" ")
    }); ` +
      `kind=${e.args}; ${subs} ;;`;
  }).join("\n");
  const management = top.filter((c) => c.subcommands).map((c) => c.name).join("|");
  return `#compdef ctr
# zsh completion for ctr, made by 'ctr completion zsh' from ctr's own command tables.
# Load it with: source <(ctr completion zsh)   (after compinit)

_ctr_list() {
  local kind=$1; shift
  case $kind in
${
    Object.entries(LISTERS).map(([k, v]) => `    ${k}) \${_ctr_bin:-ctr} "$@" ${v} 2>/dev/null ;;`)
      .join("\n")
  }
  esac
}

_ctr() {
  local _ctr_bin=\${words[1]}
  local -a globals flags vflags subs commands
  local path="" kind=none i=2 w
  while (( i < CURRENT )); do
    w=\${words[i]}
    case $w in
      ${GLOBAL_VALUE_FLAGS.join("|")})
        if [[ -z $path ]]; then globals+=($w \${words[i+1]}); (( i += 2 )); continue; fi ;;
      --root=*|--state-dir=*) [[ -z $path ]] && globals+=($w) ;;
      -*) ;;
      *)
        if [[ -z $path ]]; then path=$w
        elif [[ $path == (${management}) ]]; then path="$path $w"
        fi ;;
    esac
    (( i++ ))
  done
  if [[ -z $path ]]; then
    if [[ \${words[CURRENT-1]} == (${GLOBAL_VALUE_FLAGS.join("|")}) ]]; then _files -/; return; fi
    if [[ $PREFIX == -* ]]; then compadd -- ${GLOBAL_FLAGS.join(" ")}; return; fi
    commands=(${
    describe(top.filter((c) => !c.hidden).map((c) => ({ name: c.name, summary: c.summary })))
  })
    _describe -t commands 'ctr command' commands
    return
  fi
  case $path in
${cases}
    *) return ;;
  esac
  if (( \${#subs} )); then _describe -t commands "ctr $path command" subs; return; fi
  if (( \${vflags[(Ie)\${words[CURRENT-1]}]} )); then _files; return; fi
  if [[ $PREFIX == -* ]]; then compadd -- $flags; return; fi
  case $kind in
    file) _files ;;
    none) ;;
    *) compadd -- \${(f)"$(_ctr_list $kind $globals)"} ;;
  esac
}

compdef _ctr ctr
`;
}

/** The script of `ctr completion SHELL` for the command table `top` (every command in `all`). */
export async function completionScript(
  shell: string,
  top: readonly CommandSpec[],
  all: readonly { path: string; spec: CommandSpec }[],
): Promise<string> {
  const table = await completionTable(all);
  return shell === "zsh" ? zshScript(table, top) : bashScript(table, top);
}
