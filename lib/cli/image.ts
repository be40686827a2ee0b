/**
 * The image commands: `ctr images`, `load`, `save`, `tag`, `rmi`, and
 * `ctr image ls|inspect|rm|prune|load|save|tag`, with docker's output.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import {
  formatImageTable,
  humanSize,
  inspectImage,
  listImages,
  loadArchive,
  openStore,
  prune,
  removeImage,
  saveArchive,
  tagImage,
} from "../image/mod.ts";
import { BuildCache } from "../image/build/cache.ts";
import { optionsHelp, type OptionSpec, parseArgs, UsageError } from "./args.ts";

const LOAD: readonly OptionSpec[] = [
  {
    name: "input",
    short: "i",
    type: "string",
    arg: "FILE",
    help: "Read from a docker-save or OCI archive (tar) or an OCI layout directory",
  },
  {
    name: "name",
    type: "string",
    arg: "NAME",
    help: "Name an image that the archive leaves unnamed",
  },
  { name: "quiet", short: "q", type: "bool", help: "Print nothing but errors" },
];
const SAVE: readonly OptionSpec[] = [
  {
    name: "output",
    short: "o",
    type: "string",
    arg: "FILE",
    help: "Write to FILE (a docker-save tar that also holds an OCI layout)",
  },
];
const RMI: readonly OptionSpec[] = [
  {
    name: "force",
    short: "f",
    type: "bool",
    help: "Remove an image by ID even when it has several names",
  },
];
const LIST: readonly OptionSpec[] = [
  { name: "quiet", short: "q", type: "bool", help: "Only show image IDs" },
];
const PRUNE: readonly OptionSpec[] = [
  {
    name: "all",
    short: "a",
    type: "bool",
    help: "Accepted for docker compatibility: unused content is always removed",
  },
  { name: "force", short: "f", type: "bool", help: "Do not prompt (ctr never prompts)" },
];

/** Usage of the image commands. */
export const IMAGE_USAGE = `Usage:
  ctr images [-q]                       List images
  ctr load -i FILE [--name NAME]        Load images from an archive or OCI layout
  ctr save -o FILE IMAGE...             Save images to a docker-save/OCI archive
  ctr tag SOURCE TARGET                 Give an image another name
  ctr rmi [-f] IMAGE...                 Remove images (names first, content when unreferenced)
  ctr image inspect IMAGE...            Show images' config, layers and history as JSON
  ctr history IMAGE                     Show an image's history ('ctr history --help')
  ctr image prune                       Remove untagged images and unreferenced content
  ctr pull|push IMAGE                   Pull or push through a registry ('ctr pull --help')

Options:
${optionsHelp([...LOAD, ...SAVE, ...RMI])}`;

/** Runs one image command; `cmd` is images, load, save, tag, rmi or image. */
export async function imageCommand(
  cmd: string,
  argv: readonly string[],
  g: Globals,
): Promise<number> {
  if (argv.includes("--help")) {
    console.log(IMAGE_USAGE);
    return 0;
  }
  if (cmd === "image") {
    const [sub, ...rest] = argv;
    const map: Record<string, string> = {
      ls: "images",
      list: "images",
      rm: "rmi",
      remove: "rmi",
      load: "load",
      save: "save",
      tag: "tag",
      inspect: "inspect",
      prune: "prune",
      pull: "pull",
      push: "push",
      history: "history",
      build: "build",
    };
    if (!sub || !map[sub]) {
      throw new UsageError(
        `unknown image command: ${
          JSON.stringify(sub ?? "")
        } (expected ls, inspect, history, rm, prune, load, save, tag, pull, push or build)`,
      );
    }
    if (sub === "pull" || sub === "push") {
      return (await import("./registry.ts")).registryCommand(sub, rest, g);
    }
    if (sub === "history") return (await import("./history.ts")).historyCommand(rest, g);
    if (sub === "build") return (await import("./build.ts")).buildCommand(rest, g);
    return imageCommand(map[sub], rest, g);
  }
  const store = openStore(g.root);
  switch (cmd) {
    case "images": {
      const { opts, positionals } = parseArgs(argv, LIST);
      if (positionals.length) throw new UsageError(`"ctr images" takes no arguments`);
      const list = listImages(store);
      console.log(
        opts.quiet
          ? [...new Set(list.map((i) => i.id.slice(7, 19)))].join("\n")
          : formatImageTable(list),
      );
      return 0;
    }
    case "load": {
      const { opts, positionals } = parseArgs(argv, LOAD);
      const input = (opts.input as string | undefined) ?? positionals[0];
      if (!input) throw new UsageError(`"ctr load" requires -i FILE`);
      const r = await loadArchive(store, input, { name: opts.name as string | undefined });
      for (const w of r.warnings) console.error(`warning: ${w}`);
      if (!opts.quiet) {
        for (const img of r.images) {
          if (img.names.length) { for (const n of img.names) console.log(`Loaded image: ${n}`); }
          else console.log(`Loaded image ID: ${img.id}`);
        }
      }
      return 0;
    }
    case "save": {
      const { opts, positionals } = parseArgs(argv, SAVE);
      const out = opts.output as string | undefined;
      if (!out) {
        throw new UsageError(
          `"ctr save" requires -o FILE (ctr does not write archives to a terminal)`,
        );
      }
      if (!positionals.length) throw new UsageError(`"ctr save" requires at least one image`);
      await saveArchive(store, positionals, out);
      return 0;
    }
    case "tag": {
      const { positionals } = parseArgs(argv, []);
      if (positionals.length !== 2) {
        throw new UsageError(`"ctr tag" requires exactly 2 arguments: SOURCE TARGET`);
      }
      await tagImage(store, positionals[0], positionals[1]);
      return 0;
    }
    case "rmi": {
      const { opts, positionals } = parseArgs(argv, RMI);
      if (!positionals.length) throw new UsageError(`"ctr rmi" requires at least one image`);
      let code = 0;
      for (const ref of positionals) {
        try {
          const r = await removeImage(store, ref, { force: opts.force === true });
          for (const u of r.untagged) console.log(`Untagged: ${u}`);
          for (const d of r.deleted) console.log(`Deleted: ${d}`);
          // Its garbage collection may have taken layers the build cache named.
          if (r.gc) BuildCache.open(store).prune();
        } catch (e) {
          console.error(`ctr: ${(e as Error).message}`);
          code = 1;
        }
      }
      return code;
    }
    case "inspect": {
      const { positionals } = parseArgs(argv, []);
      if (!positionals.length) {
        throw new UsageError(`"ctr image inspect" requires at least one image`);
      }
      console.log(JSON.stringify(positionals.map((r) => inspectImage(store, r)), null, 2));
      return 0;
    }
    case "prune": {
      parseArgs(argv, PRUNE);
      const r = await prune(store, { untagged: true });
      BuildCache.open(store).prune();
      for (const d of r.images) console.log(`Deleted Images:\n  deleted: ${d}`);
      console.log(`Total reclaimed space: ${humanSize(r.bytes)}`);
      return 0;
    }
  }
  throw new UsageError(`unknown command: ${cmd}`);
}
