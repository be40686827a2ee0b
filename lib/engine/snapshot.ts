/**
 * A container's file system as data: what it changed (`diff`: A/C/D from
 * its upper layer against the layers below, in docker's terms), its whole
 * root as a tar (`export`), a new image of its changes (`commit`), and an
 * image made of a tar of a root file system (`import`).
 *
 * The upper directory holds, besides the container's own changes, the mount
 * points the runtime created (`/etc/hosts`, `/proc`, a volume's directory)
 * when the image lacked them. docker keeps those in an "init" layer that
 * neither `diff` nor `commit` sees; ctr leaves them out the same way: an entry
 * at a mount point that the image does not have is not a change.
 * @module
 */

import type { ContainerState } from "./state.ts";
import type { ContainerConfig } from "../config/container.ts";
import { lookup } from "../runtime/paths.ts";
import {
  applyInstruction,
  type BuildImageConfig,
  contentXattrs,
  encodeHeader,
  expandInstruction,
  isOpaque,
  isWhiteout,
  layerDescriptor,
  LayeredRoot,
  padding,
  parseDockerfile,
  TAR_END,
  type TarHeader,
  writeImage,
  writeLayer,
} from "../image/build/mod.ts";
import {
  type Digest,
  findImage,
  hostPlatform,
  type ImageConfig,
  type ImageRecord,
  readConfig,
  readManifest,
  type Store,
} from "../image/mod.ts";
import { Hasher } from "../image/digest.ts";
import { MEDIA } from "../image/schema.ts";
import { decompress } from "../image/compression.ts";
import type { Platform } from "../image/platform.ts";

/** One change of a container's file system, as `docker diff` prints it (`A /new`). */
export interface Change {
  readonly kind: "A" | "C" | "D";
  /** Absolute path in the container. */
  readonly path: string;
}

/** Mount points the runtime makes in every container with its own namespaces. */
const RUNTIME_MOUNTS = ["/proc", "/sys", "/dev", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];

/** The paths a container's runtime mounts over (docker's init layer holds these). */
export function mountPoints(cfg: ContainerConfig | undefined): Set<string> {
  return new Set([...RUNTIME_MOUNTS, ...(cfg?.mounts ?? []).map((m) => m.destination)]);
}

function lstat(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch {
    return undefined;
  }
}

function join(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

/** What the layers below the upper one have at a path (lstat), or undefined. */
function lowerInfo(layers: readonly string[], path: string): Deno.FileInfo | undefined {
  const found = lookup(layers, path);
  return found ? lstat(found.hostPath) : undefined;
}

/**
 * The changes of an upper directory over `layers` (top first), as docker's
 * overlay driver reports them: walked in name order, a whiteout is D, an
 * entry the layers lack is A, one they have is C (a directory only when its
 * size, mode or time differ), and the directory of an A or D that is not
 * itself listed comes first as C. An opaque directory hides what the layers
 * have below it: those entries are D. Entries at `skip` paths that the
 * layers lack (runtime mount points) are left out, and a directory that holds
 * nothing else is not changed by them.
 */
export function upperChanges(
  upper: string,
  layers: readonly string[],
  skip: ReadonlySet<string> = new Set(),
): Change[] {
  const out: Change[] = [];
  const listed = new Set<string>();
  const ownMountPoint = (path: string) => skip.has(path) && !lookup(layers, path);
  const onlyMountPoints = (dir: string): boolean => {
    const names = [...Deno.readDirSync(upper + dir)].map((e) => e.name);
    return names.length > 0 && names.every((n) => ownMountPoint(join(dir, n)));
  };
  const add = (c: Change, parent: string) => {
    if (c.kind !== "C" && parent !== "/" && !listed.has(parent)) {
      out.push({ kind: "C", path: parent });
      listed.add(parent);
    }
    out.push(c);
  };
  const walk = (dir: string) => {
    const names = [...Deno.readDirSync(dir === "/" ? upper : upper + dir)].map((e) => e.name)
      .sort();
    for (const name of names) {
      const path = join(dir, name);
      const info = lstat(upper + path);
      if (!info || ownMountPoint(path)) continue;
      if (isWhiteout(info)) {
        add({ kind: "D", path }, dir);
        continue;
      }
      const low = lowerInfo(layers, path);
      let changed = true;
      if (low?.isDirectory && info.isDirectory) {
        const same = low.size === info.size && low.mode === info.mode &&
          low.mtime?.getTime() === info.mtime?.getTime();
        changed = !same && !onlyMountPoints(path);
      }
      if (changed) {
        add({ kind: low ? "C" : "A", path }, dir);
        if (info.isDirectory) listed.add(path);
      }
      if (!info.isDirectory) continue;
      walk(path);
      if (low?.isDirectory && isOpaque(upper + path)) {
        // What the layers had below an opaque directory is gone.
        const here = new Set(names);
        const root = new LayeredRoot(layers);
        for (const gone of root.list(path) ?? []) {
          if (!here.has(gone) && !lstat(`${upper}${join(path, gone)}`)) {
            add({ kind: "D", path: join(path, gone) }, path);
          }
        }
      }
    }
  };
  walk("/");
  return out;
}

/** `docker diff` of a recorded container. */
export function containerChanges(s: ContainerState): Change[] {
  if (!s.config) throw new Error(`Container ${s.name} has no recorded configuration`);
  return upperChanges(`${s.dir}/upper`, s.config.layers, mountPoints(s.config));
}

/** The stack a stopped (or running) container's root is made of: its upper layer, then the image's. */
export function containerRoot(s: ContainerState): LayeredRoot {
  if (!s.config) throw new Error(`Container ${s.name} has no recorded configuration`);
  return new LayeredRoot([`${s.dir}/upper`, ...s.config.layers]);
}

const CHUNK = 1 << 20;

/** A host file's content in chunks, as many bytes as `size` (a file that shrank is an error). */
export function* fileChunks(path: string, size: number, what: string): Generator<Uint8Array> {
  const f = Deno.openSync(path);
  try {
    let left = size;
    while (left > 0) {
      const buf = new Uint8Array(Math.min(CHUNK, left));
      const n = f.readSync(buf);
      if (n === null || n === 0) throw new Error(`${what} shrank while it was read`);
      yield n === buf.length ? buf : buf.subarray(0, n);
      left -= n;
    }
  } finally {
    f.close();
  }
}

function devNumbers(rdev: number): [number, number] {
  return [(rdev >>> 8) & 0xfff, (rdev & 0xff) | ((rdev >>> 12) & 0xfff00)];
}

/** A tar header for a host entry (`info` from lstat), named `name`. */
export function tarHeader(
  name: string,
  info: Deno.FileInfo,
  extra: { linkname?: string; xattrs?: ReadonlyMap<string, Uint8Array> } = {},
): TarHeader | undefined {
  const base = {
    mode: (info.mode ?? 0) & 0o7777,
    uid: info.uid ?? 0,
    gid: info.gid ?? 0,
    mtime: Math.floor((info.mtime?.getTime() ?? 0) / 1000),
    size: 0,
    ...(extra.xattrs && extra.xattrs.size > 0 && { xattrs: extra.xattrs }),
  };
  if (info.isDirectory) {
    return { ...base, name: name.endsWith("/") ? name : `${name}/`, type: "dir" };
  }
  if (info.isFile) return { ...base, name, type: "file", size: info.size };
  if (info.isSymlink) return { ...base, name, type: "symlink", linkname: extra.linkname ?? "" };
  if (info.isCharDevice || info.isBlockDevice) {
    const [devmajor, devminor] = devNumbers(info.rdev ?? 0);
    return { ...base, name, type: info.isCharDevice ? "char" : "block", devmajor, devminor };
  }
  if (info.isFifo) return { ...base, name, type: "fifo" };
  return undefined; // sockets are not carried by tars
}

/**
 * The whole root of a container as a tar (`docker export`): every entry of
 * its layers as the container sees them, in name order, names relative to
 * the root; hard links within it as links.
 */
export function exportTar(s: ContainerState): ReadableStream<Uint8Array> {
  const root = containerRoot(s);
  function* entries(): Generator<Uint8Array> {
    const links = new Map<string, string>();
    function* walk(dir: string): Generator<Uint8Array> {
      for (const e of root.children(dir) ?? []) {
        const rel = e.path.slice(1);
        const info = e.info;
        const xattrs = contentXattrs(e.hostPath);
        if (info.isFile && (info.nlink ?? 1) > 1) {
          const key = `${info.dev}:${info.ino}`;
          const first = links.get(key);
          if (first !== undefined) {
            yield encodeHeader({
              ...tarHeader(rel, info, { xattrs })!,
              type: "link",
              size: 0,
              linkname: first,
            });
            continue;
          }
          links.set(key, rel);
        }
        const h = tarHeader(rel, info, {
          xattrs,
          ...(info.isSymlink && { linkname: Deno.readLinkSync(e.hostPath) }),
        });
        if (!h) continue;
        yield encodeHeader(h);
        if (h.type === "file") {
          yield* fileChunks(e.hostPath, h.size, rel);
          const pad = padding(h.size);
          if (pad.length) yield pad;
        }
        if (info.isDirectory) yield* walk(e.path);
      }
    }
    yield* walk("/");
    yield TAR_END;
  }
  return ReadableStream.from(entries());
}

/** Dockerfile instructions `commit -c` and `import -c` take (docker's list). */
export const CHANGE_INSTRUCTIONS = [
  "CMD",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "LABEL",
  "ONBUILD",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
];

/**
 * Applies `--change` instructions (Dockerfile lines) to a config's settings,
 * with the config's environment for `$VAR`; the history is left as it was.
 */
export function applyChanges(
  config: BuildImageConfig,
  changes: readonly string[],
): BuildImageConfig {
  let out = config;
  for (const text of changes) {
    const df = parseDockerfile(text, { file: "--change" });
    for (const ins of df.instructions) {
      if (!CHANGE_INSTRUCTIONS.includes(ins.kind)) {
        throw new Error(
          `Cannot apply --change ${
            JSON.stringify(text)
          }: ${ins.kind} is not a valid change command (${CHANGE_INSTRUCTIONS.join(", ")})`,
        );
      }
      const vars = new Map(
        (out.config.Env ?? []).map((e) => {
          const eq = e.indexOf("=");
          return [eq < 0 ? e : e.slice(0, eq), eq < 0 ? "" : e.slice(eq + 1)] as const;
        }),
      );
      const history = out.history;
      out = { ...applyInstruction(out, expandInstruction(ins, vars), { cmdSet: true }), history };
    }
  }
  return out;
}

/** How commit and import name and describe the new image. */
export interface NewImageOptions {
  /** Full references to point at it. */
  readonly names?: readonly string[];
  /** `-m`: the history comment. */
  readonly message?: string;
  /** `-c`: Dockerfile instructions applied to its config. */
  readonly changes?: readonly string[];
  /** The time to record (now when absent). */
  readonly created?: string;
}

/** Where an image came from, found again from a container's layer directories. */
interface Base {
  readonly config: ImageConfig | undefined;
  readonly layers: readonly { mediaType: string; digest: string; size: number }[];
}

/**
 * The image a container was made from: the one it names whose layers are
 * the container's, else any image with exactly those layers. Layers that are
 * no image's (a `--rootfs` directory, an image removed since) become layers
 * of their own, written from their directories.
 */
async function baseOf(store: Store, s: ContainerState): Promise<Base> {
  const layers = s.config!.layers;
  const index = store.readIndex();
  const topFirst = (r: ImageRecord) => {
    const out: string[] = [];
    for (const d of [...r.layers].reverse()) if (!out.includes(d)) out.push(d);
    return out.map((d) => store.layerPath(d as Digest));
  };
  const same = (r: ImageRecord) => {
    const l = topFirst(r);
    return l.length === layers.length && l.every((p, i) => p === layers[i]);
  };
  let record: ImageRecord | undefined;
  try {
    const named = findImage(index, s.image)?.record;
    if (named && same(named)) record = named;
  } catch { /* not a name */ }
  record ??= Object.values(index.images).find(same);
  if (record) {
    return {
      config: readConfig(store, record.config),
      layers: readManifest(store, record.digest).layers,
    };
  }
  const written = [];
  for (const dir of [...layers].reverse()) {
    written.push(layerDescriptor(await writeLayer(store, dir, { kind: "upper" })));
  }
  return { config: undefined, layers: written };
}

/** Splits `KEY=VALUE` into its key. */
function envKey(e: string): string {
  const eq = e.indexOf("=");
  return eq < 0 ? e : e.slice(0, eq);
}

/**
 * The config of a committed container: the base image's, with what the
 * container ran with (its command as Cmd after the image's Entrypoint, its
 * environment but what the runtime adds, its working directory, labels and
 * published ports), then the `-c` changes; one history entry for the new layer.
 */
export function commitConfig(
  base: ImageConfig | undefined,
  s: ContainerState,
  o: {
    author?: string;
    message?: string;
    changes?: readonly string[];
    created: string;
    diffId?: string;
  },
  platform: Platform = hostPlatform(),
): BuildImageConfig {
  const c = structuredClone(base?.config ?? {}) as BuildImageConfig["config"];
  const proc = s.config?.process;
  if (proc) {
    const entry = c.Entrypoint ?? [];
    const args = [...proc.args];
    if (entry.length && entry.every((w, i) => args[i] === w)) {
      c.Cmd = args.slice(entry.length);
    } else if (entry.length) {
      c.Entrypoint = args.slice(0, 1);
      c.Cmd = args.slice(1);
    } else c.Cmd = args;
    const baseEnv = new Set((base?.config?.Env ?? []).map(envKey));
    // HOSTNAME, and HOME and TERM when the image does not set them, are the runtime's.
    c.Env = proc.env.filter((e) => {
      const k = envKey(e);
      return k !== "HOSTNAME" && (baseEnv.has(k) || (k !== "HOME" && k !== "TERM"));
    });
    if (proc.cwd && (proc.cwd !== "/" || c.WorkingDir)) c.WorkingDir = proc.cwd;
  }
  if (s.labels && Object.keys(s.labels).length) c.Labels = { ...(c.Labels ?? {}), ...s.labels };
  for (const p of s.ports ?? []) {
    c.ExposedPorts = { ...(c.ExposedPorts ?? {}), [`${p.containerPort}/${p.protocol}`]: {} };
  }
  let config: BuildImageConfig = {
    ...(structuredClone(base ?? {}) as Partial<BuildImageConfig>),
    architecture: base?.architecture ?? platform.architecture,
    os: base?.os ?? platform.os,
    config: c,
    rootfs: { type: "layers", diff_ids: [...(base?.rootfs.diff_ids ?? [])] },
    history: [...((base?.history ?? []) as BuildImageConfig["history"])],
  };
  config = applyChanges(config, o.changes ?? []);
  if (o.diffId) config.rootfs.diff_ids.push(o.diffId);
  config.history.push({
    created: o.created,
    created_by: s.command.join(" "),
    ...(o.author && { author: o.author }),
    ...(o.message && { comment: o.message }),
    ...(!o.diffId && { empty_layer: true }),
  });
  config.created = o.created;
  config.container = s.id;
  if (o.author) config.author = o.author;
  else delete config.author;
  return config;
}

/** Options of {@link commitContainer}. */
export interface CommitOptions extends NewImageOptions {
  /** `-a`: the author. */
  readonly author?: string;
  /** Called around the layer's writing with the container frozen (`--pause`). */
  readonly freeze?: { freeze(): Promise<void>; thaw(): Promise<void> };
}

/**
 * Makes an image of a container's changes: the base image's layers, a new
 * layer of its upper directory (left out when it changed nothing), and the
 * config {@link commitConfig} makes. Returns the image's record.
 */
export async function commitContainer(
  store: Store,
  s: ContainerState,
  o: CommitOptions = {},
): Promise<ImageRecord> {
  if (!s.config) throw new Error(`Container ${s.name} has no recorded configuration`);
  const created = o.created ?? new Date().toISOString();
  const skip = mountPoints(s.config);
  const layers = s.config.layers;
  return await store.ingest(async () => {
    const base = await baseOf(store, s);
    await o.freeze?.freeze();
    let layer;
    try {
      const changes = upperChanges(`${s.dir}/upper`, layers, skip);
      layer = changes.length === 0 ? undefined : await writeLayer(store, `${s.dir}/upper`, {
        kind: "upper",
        skip: (rel) => skip.has(`/${rel}`) && !lookup(layers, `/${rel}`),
      });
    } finally {
      await o.freeze?.thaw();
    }
    const config = commitConfig(base.config, s, { ...o, created, diffId: layer?.diffId });
    if (o.message) config.comment = o.message;
    return await writeImage(store, {
      config,
      layers: [...base.layers, ...(layer ? [layerDescriptor(layer)] : [])],
      names: o.names,
      created,
    });
  });
}

/** Options of {@link importImage}. */
export interface ImportOptions extends NewImageOptions {
  /** What the history says it was imported from (`-`, a path). */
  readonly source: string;
  readonly platform?: Platform;
}

/**
 * Makes an image of one layer from a tar of a root file system (plain or
 * compressed), as `docker import`: the config holds only the `-c` changes,
 * the history one entry, `Imported from SOURCE` or the message.
 */
export async function importImage(
  store: Store,
  source: ReadableStream<Uint8Array>,
  o: ImportOptions,
): Promise<ImageRecord> {
  const created = o.created ?? new Date().toISOString();
  const platform = o.platform ?? hostPlatform();
  const comment = o.message || `Imported from ${o.source}`;
  return await store.ingest(async () => {
    const { stream } = await decompress(source);
    const tarHash = new Hasher();
    const gz = stream.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          tarHash.update(chunk);
          ctl.enqueue(chunk);
        },
      }),
    ).pipeThrough(
      new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    );
    const blob = await store.putBlob(gz);
    const diffId = tarHash.digest();
    await store.ensureLayer(diffId, blob.digest);
    let config: BuildImageConfig = {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant && { variant: platform.variant }),
      config: {},
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [],
    };
    config = applyChanges(config, o.changes ?? []);
    config.history = [{ created, comment }];
    config.comment = comment;
    return await writeImage(store, {
      config,
      layers: [{ mediaType: MEDIA.ociLayerGzip, digest: blob.digest, size: blob.size }],
      names: o.names,
      created,
    });
  });
}
