/**
 * `ctr diff`, `ctr commit`, `ctr export` and `ctr import`: a container's
 * file system as changes, as a new image, as a tar; and a tar as an image.
 * docker's flags, output and events.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { StateDir } from "../engine/state.ts";
import { cgroupOf, isRunning } from "../engine/lifecycle.ts";
import { commitContainer, containerChanges, exportTar, importImage } from "../engine/snapshot.ts";
import { containerEvent, imageEvent } from "../engine/events.ts";
import { type ImageRecord, openStore } from "../image/mod.ts";
import type { Platform } from "../image/platform.ts";
import { familiarString, formatReference, normalizeReference } from "../image/reference.ts";
import { parsePlatform } from "../image/platform.ts";
import { type OptionSpec, parseArgs, UsageError } from "./args.ts";

/** The options of `ctr commit`. */
export const COMMIT_OPTIONS: readonly OptionSpec[] = [
  {
    name: "author",
    short: "a",
    type: "string",
    arg: "AUTHOR",
    help: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")',
  },
  {
    name: "change",
    short: "c",
    type: "list",
    arg: "INSTRUCTION",
    help:
      "Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)",
  },
  { name: "message", short: "m", type: "string", arg: "TEXT", help: "Commit message" },
  {
    name: "pause",
    short: "p",
    type: "bool",
    help: "Pause container during commit (default true; --pause=false leaves it running)",
  },
];
/** The options of `ctr export`. */
export const EXPORT_OPTIONS: readonly OptionSpec[] = [
  {
    name: "output",
    short: "o",
    type: "string",
    arg: "FILE",
    help: "Write to a file, instead of STDOUT",
  },
];
/** The options of `ctr import`. */
export const IMPORT_OPTIONS: readonly OptionSpec[] = [
  {
    name: "change",
    short: "c",
    type: "list",
    arg: "INSTRUCTION",
    help: "Apply a Dockerfile instruction to the created image",
  },
  {
    name: "message",
    short: "m",
    type: "string",
    arg: "TEXT",
    help: "Set commit message for imported image",
  },
  {
    name: "platform",
    type: "string",
    arg: "OS/ARCH[/VARIANT]",
    help: "Set platform if server is multi-platform capable",
  },
];

/** The full name a `REPOSITORY[:TAG]` argument gives the new image (`latest` by default). */
function imageName(ref: string | undefined): string | undefined {
  if (ref === undefined) return undefined;
  const r = normalizeReference(ref);
  if (r.digest) {
    throw new UsageError(`invalid reference ${JSON.stringify(ref)}: a tag cannot hold a digest`);
  }
  return formatReference(r);
}

/** `ctr diff CONTAINER`: A, C, D lines of its changes. */
export function diffCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { positionals } = parseArgs(argv, []);
  if (positionals.length !== 1) throw new UsageError(`"ctr diff" requires exactly 1 argument`);
  const s = new StateDir(g.stateDir).find(positionals[0]);
  for (const c of containerChanges(s)) console.log(`${c.kind} ${c.path}`);
  return Promise.resolve(0);
}

/** `ctr commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`: prints the new image's ID. */
export async function commitCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, COMMIT_OPTIONS);
  if (positionals.length < 1 || positionals.length > 2) {
    throw new UsageError(`"ctr commit" requires at least 1 and at most 2 arguments`);
  }
  const record = await commit(g, positionals[0], positionals[1], {
    author: opts.author as string | undefined,
    message: opts.message as string | undefined,
    changes: (opts.change as string[] | undefined) ?? [],
    pause: opts.pause !== false,
  });
  console.log(record.config);
  return 0;
}

/**
 * `ctr commit` of the container `ref` names: a new image (named `repoTag`
 * when given), the container frozen meanwhile with `pause`, docker's events.
 */
export async function commit(
  g: Globals,
  ref: string,
  repoTag: string | undefined,
  opts: { author?: string; message?: string; changes?: readonly string[]; pause?: boolean },
): Promise<ImageRecord> {
  const dir = new StateDir(g.stateDir);
  const s = dir.find(ref);
  const name = imageName(repoTag);
  const cg = opts.pause !== false && isRunning(s) ? cgroupOf(s) : undefined;
  const record = await commitContainer(openStore(g.root), s, {
    author: opts.author,
    message: opts.message,
    changes: opts.changes ?? [],
    names: name ? [name] : [],
    freeze: cg && {
      async freeze() {
        await cg.freeze();
        containerEvent(g.stateDir, s, "pause");
      },
      async thaw() {
        await cg.thaw();
        containerEvent(g.stateDir, s, "unpause");
      },
    },
  });
  const shown = name ? familiarString(normalizeReference(name)) : "";
  if (name) imageEvent(g.stateDir, record.config, "tag", { name: shown });
  containerEvent(g.stateDir, s, "commit", {
    comment: opts.message ?? "",
    imageID: record.config,
    imageRef: shown,
  });
  return record;
}

/** `ctr export [-o FILE] CONTAINER`: its root as a tar. */
export async function exportCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, EXPORT_OPTIONS);
  if (positionals.length !== 1) throw new UsageError(`"ctr export" requires exactly 1 argument`);
  const out = opts.output as string | undefined;
  if (out === undefined && Deno.stdout.isTerminal()) {
    throw new UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect");
  }
  const s = new StateDir(g.stateDir).find(positionals[0]);
  const tar = exportTar(s);
  if (out !== undefined) {
    // Written beside the target and renamed: a failed export leaves no partial file.
    const tmp = `${out}.${Deno.pid}.tmp`;
    try {
      const f = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
      await tar.pipeTo(f.writable);
      Deno.renameSync(tmp, out);
    } catch (e) {
      try {
        Deno.removeSync(tmp);
      } catch { /* not made */ }
      throw e;
    }
  } else {
    await tar.pipeTo(Deno.stdout.writable, { preventClose: true });
  }
  containerEvent(g.stateDir, s, "export");
  return 0;
}

/** `ctr import [OPTIONS] FILE|- [REPOSITORY[:TAG]]`: prints the new image's ID. */
export async function importCommand(argv: readonly string[], g: Globals): Promise<number> {
  const { opts, positionals } = parseArgs(argv, IMPORT_OPTIONS);
  if (positionals.length < 1 || positionals.length > 2) {
    throw new UsageError(`"ctr import" requires at least 1 and at most 2 arguments`);
  }
  const src = positionals[0];
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(src)) {
    throw new UsageError(
      `ctr import reads a file or - (stdin); it does not download ${src}: fetch it first`,
    );
  }
  const platform = opts.platform !== undefined ? parsePlatform(opts.platform as string) : undefined;
  const source = src === "-" ? Deno.stdin.readable : (await Deno.open(src)).readable;
  const record = await importTar(g, source, src, positionals[1], {
    message: opts.message as string | undefined,
    changes: (opts.change as string[] | undefined) ?? [],
    ...(platform && { platform }),
  });
  console.log(record.config);
  return 0;
}

/**
 * `ctr import`: an image of one layer from a tar of a root file system
 * (`src` names it in the history), named `repoTag` when given; docker's events.
 */
export async function importTar(
  g: Globals,
  source: ReadableStream<Uint8Array>,
  src: string,
  repoTag: string | undefined,
  opts: { message?: string; changes?: readonly string[]; platform?: Platform },
): Promise<ImageRecord> {
  const name = imageName(repoTag);
  const record = await importImage(openStore(g.root), source, {
    source: src,
    message: opts.message,
    changes: opts.changes ?? [],
    names: name ? [name] : [],
    ...(opts.platform && { platform: opts.platform }),
  });
  imageEvent(g.stateDir, record.config, "import", { name: record.config });
  if (name) {
    imageEvent(g.stateDir, record.config, "tag", {
      name: familiarString(normalizeReference(name)),
    });
  }
  return record;
}
