/**
 * The registry commands: `ctr pull`, `ctr push`, `ctr login`, `ctr logout`,
 * with docker's output. Progress goes to stderr (in place on a terminal);
 * stdout gets docker's last line: the reference pulled, the digest pushed.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { parsePlatform } from "../image/platform.ts";
import { NO_PROGRESS, type Progress, progressTo } from "../image/progress.ts";
import { pullImage, type PullResult } from "../image/pull.ts";
import { pushImage, type PushResult } from "../image/push.ts";
import {
  familiarRepository,
  familiarString,
  formatReference,
  normalizeReference,
  parseReference,
} from "../image/reference.ts";
import { type Credentials, RegistryClient } from "../image/registry.ts";
import {
  authFilePath,
  credentialsFor,
  insecureRegistries,
  registryHost,
  removeCredentials,
  saveCredentials,
} from "../image/registry_config.ts";
import { openStore } from "../image/mod.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";
import { imageEvent } from "../engine/events.ts";

const INSECURE: OptionSpec = {
  name: "insecure",
  type: "bool",
  help: "Use plain HTTP (always so for localhost and 127.0.0.0/8)",
};
const QUIET: OptionSpec = {
  name: "quiet",
  short: "q",
  type: "bool",
  help: "Print no progress",
};
/** The options of `ctr pull`. */
export const PULL_OPTIONS: readonly OptionSpec[] = [
  INSECURE,
  {
    name: "platform",
    type: "string",
    arg: "OS/ARCH[/VARIANT]",
    help: "Pick this platform from a multi-platform image (default: the host's)",
  },
  QUIET,
];
/** The options of `ctr push`. */
export const PUSH_OPTIONS: readonly OptionSpec[] = [INSECURE, QUIET];
/** The options of `ctr login`. */
export const LOGIN_OPTIONS: readonly OptionSpec[] = [
  { name: "username", short: "u", type: "string", arg: "USER", help: "User name" },
  { name: "password", short: "p", type: "string", arg: "PASS", help: "Password" },
  { name: "password-stdin", type: "bool", help: "Read the password from stdin" },
  INSECURE,
];

/** Usage of the registry commands. */
export const REGISTRY_USAGE = `Usage:
  ctr pull [OPTIONS] NAME[:TAG|@DIGEST]      Pull an image from a registry
  ctr push [OPTIONS] NAME[:TAG]              Push an image to a registry
  ctr login [OPTIONS] [REGISTRY]             Log in to a registry (default docker.io)
  ctr logout [REGISTRY]                      Forget a registry's credentials

Credentials are kept in ROOT/auth.json (mode 0600, docker's config.json format);
registries listed in ROOT/registries.json {"insecure-registries": [...]} use plain HTTP.

Options:
${optionsHelp([...PULL_OPTIONS, ...LOGIN_OPTIONS.filter((o) => o !== INSECURE)])}`;

function stderrProgress(quiet: boolean): Progress {
  return quiet ? NO_PROGRESS : progressTo(Deno.stderr);
}

/** The client options of a registry: plain HTTP when marked insecure; the given credentials, else the saved ones. */
export function clientOptions(
  g: Globals,
  domain: string,
  insecure: boolean,
  credentials?: Credentials,
) {
  return {
    insecure: insecure || insecureRegistries(g.root).includes(domain),
    credentials: credentials ?? credentialsFor(g.root, domain),
  };
}

/** Options of {@link pull} and {@link push}. */
export interface RegistryOptions {
  readonly insecure?: boolean;
  readonly quiet?: boolean;
  /** Where progress goes (default: stderr, unless quiet). */
  readonly progress?: Progress;
  /** Credentials for this request (the API's X-Registry-Auth), before the saved ones. */
  readonly credentials?: Credentials;
}

/** Pulls an image into the store under --root; progress to stderr unless `progress` is given. */
export async function pull(
  g: Globals,
  ref: string,
  opts: RegistryOptions & { platform?: string } = {},
): Promise<PullResult> {
  const parsed = parseReference(ref);
  const r = await pullImage(openStore(g.root), ref, {
    ...clientOptions(g, parsed.domain, opts.insecure === true, opts.credentials),
    ...(opts.platform !== undefined && { platform: parsePlatform(opts.platform) }),
    progress: opts.progress ?? stderrProgress(opts.quiet === true),
  });
  // docker names a pull by the reference, and the repository in `name`.
  const full = normalizeReference(ref);
  imageEvent(g.stateDir, familiarString(full), "pull", { name: familiarRepository(full) });
  return r;
}

/** Pushes an image of the store under --root, with docker's event; progress as {@link pull}'s. */
export async function push(
  g: Globals,
  refText: string,
  opts: RegistryOptions = {},
): Promise<PushResult> {
  const ref = normalizeReference(refText);
  const r = await pushImage(openStore(g.root), refText, {
    ...clientOptions(g, ref.domain, opts.insecure === true, opts.credentials),
    progress: opts.progress ?? stderrProgress(opts.quiet === true),
  });
  imageEvent(g.stateDir, familiarString(ref), "push", { name: familiarRepository(ref) });
  return r;
}

async function readLine(echo: boolean): Promise<string> {
  const raw = !echo && Deno.stdin.isTerminal();
  if (raw) Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null || buf[0] === 0x0a || buf[0] === 0x0d) break;
      if (buf[0] === 0x03) throw new Error("Interrupted");
      if (buf[0] === 0x7f) bytes.pop();
      else bytes.push(buf[0]);
    }
  } finally {
    if (raw) {
      Deno.stdin.setRaw(false);
      console.error("");
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

async function readStdin(): Promise<string> {
  const text = new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer());
  return text.replace(/[\r\n]+$/, "");
}

async function login(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, LOGIN_OPTIONS);
  if (positionals.length > 1) throw new UsageError(`"ctr login" takes at most one registry`);
  const domain = registryHost(positionals[0] ?? "docker.io");
  let username = opts.username as string | undefined;
  let password = opts.password as string | undefined;
  if (password !== undefined && opts["password-stdin"]) {
    throw new UsageError("--password and --password-stdin are mutually exclusive");
  }
  if (opts["password-stdin"]) {
    if (!username) throw new UsageError("Must provide --username with --password-stdin");
    password = await readStdin();
  } else if (password !== undefined) {
    console.error("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
  }
  const tty = Deno.stdin.isTerminal();
  if (!username) {
    if (!tty) throw new UsageError("Cannot prompt for a user name: stdin is not a terminal (-u)");
    Deno.stderr.writeSync(new TextEncoder().encode("Username: "));
    username = (await readLine(true)).trim();
  }
  if (password === undefined) {
    if (!tty) throw new UsageError("Cannot prompt for a password: stdin is not a terminal");
    Deno.stderr.writeSync(new TextEncoder().encode("Password: "));
    password = await readLine(false);
  }
  if (!username || !password) throw new UsageError("A user name and a password are required");
  const credentials: Credentials = { username, password };
  await checkLogin(g, domain, credentials, opts.insecure === true);
  saveCredentials(g.root, domain, credentials);
  console.error(`WARNING! Your password will be stored unencrypted in ${authFilePath(g.root)}.`);
  console.log("Login Succeeded");
  return 0;
}

/**
 * Whether `credentials` open `domain` (its token or basic auth), as `login`
 * and the Engine API's `/auth` ask the registry; throws the registry's refusal.
 */
export async function checkLogin(
  g: Globals,
  domain: string,
  credentials: Credentials,
  insecure = false,
): Promise<void> {
  const plain = insecure || insecureRegistries(g.root).includes(domain);
  await new RegistryClient(domain, { insecure: plain, credentials }).login();
}

/** Runs pull, push, login or logout. */
export async function registryCommand(
  cmd: string,
  argv: readonly string[],
  g: Globals,
): Promise<number> {
  if (argv.includes("--help")) {
    console.log(REGISTRY_USAGE);
    return 0;
  }
  switch (cmd) {
    case "pull": {
      const { opts, positionals } = parseArgs(argv, PULL_OPTIONS);
      if (positionals.length !== 1) throw new UsageError(`"ctr pull" requires exactly 1 image`);
      await pull(g, positionals[0], {
        insecure: opts.insecure === true,
        platform: opts.platform as string | undefined,
        quiet: opts.quiet === true,
      });
      console.log(formatReference(normalizeReference(positionals[0])));
      return 0;
    }
    case "push": {
      const { opts, positionals } = parseArgs(argv, PUSH_OPTIONS);
      if (positionals.length !== 1) throw new UsageError(`"ctr push" requires exactly 1 image`);
      const ref = normalizeReference(positionals[0]);
      const r = await push(g, positionals[0], {
        insecure: opts.insecure === true,
        quiet: opts.quiet === true,
      });
      console.log(`${ref.tag}: digest: ${r.digest} size: ${r.size}`);
      return 0;
    }
    case "login":
      return await login(argv, g);
    case "logout": {
      const { positionals } = parseArgs(argv, []);
      if (positionals.length > 1) throw new UsageError(`"ctr logout" takes at most one registry`);
      const domain = registryHost(positionals[0] ?? "docker.io");
      console.log(
        removeCredentials(g.root, domain)
          ? `Removing login credentials for ${domain}`
          : `Not logged in to ${domain}`,
      );
      return 0;
    }
  }
  throw new UsageError(`unknown command: ${cmd}`);
}
