/**
 * Named volumes, as docker's `local` driver keeps them: a directory per volume
 * under `<root>/volumes/<name>`, holding `_data` (what containers mount) and
 * `volume.json` (what `ctr volume inspect` shows). A volume outlives the
 * containers that use it; it is in use while a recorded container (running or
 * not) names it in its state file.
 *
 * Creation and removal are atomic for readers: a volume is built under a
 * hidden `.tmp-*` name and renamed into place, and removed by renaming it back
 * to a hidden name first, so a crash at any point never leaves a half volume
 * that `list` shows. Writers (create, remove, prune) hold `<root>/volumes/.lock`;
 * hidden leftovers of a crash are swept while holding it.
 * @module
 */

import { MOUNT_FLAG_OPTIONS, MS, PROPAGATION_FLAGS } from "../../ffi/constants.ts";
import { addressOf, cString, sys } from "../../ffi/sys.ts";
import { FileLock } from "../os/lock.ts";
import { isAlive } from "../os/proc.ts";
import { randomHex } from "../config/names.ts";
import { mountPoints, removeTree, treeSize } from "../os/tree.ts";
import { StateDir } from "./state.ts";
import { isVolumeName, VOLUME_NAME_MAX } from "../config/rules.ts";

/** What `ctr volume inspect` shows of a volume (docker's keys). */
export interface Volume {
  readonly Name: string;
  /** Always `local`: the only driver. */
  readonly Driver: "local";
  /** The directory mounted into containers (`<root>/volumes/<name>/_data`). */
  readonly Mountpoint: string;
  /** When it was created (RFC 3339). */
  readonly CreatedAt: string;
  readonly Labels: Readonly<Record<string, string>>;
  /**
   * The local driver's options (`type`, `device`, `o`): what is mounted on
   * the Mountpoint while a container uses the volume. Null: a plain directory.
   */
  readonly Options: Readonly<Record<string, string>> | null;
  /** Always `local`: volumes belong to this host. */
  readonly Scope: "local";
}

/** The keys of the local driver's options, as docker's. */
const OPTION_KEYS = ["type", "device", "o"];

/** What a volume's options mount: mount(2)'s arguments. */
export interface VolumeMount {
  readonly source: string;
  readonly type: string;
  readonly flags: number;
  readonly data: string;
}

/**
 * Checks the local driver's options (`volume create -o type=tmpfs -o
 * device=tmpfs -o o=size=64m`, `type=none,o=bind,device=/srv/data`, nfs...)
 * and says what they mount; undefined for none. The words of `o` that are
 * mount flags (ro, nosuid, bind...) become flags, the rest the filesystem's
 * data, as mount(8) and docker read them.
 */
export function volumeMount(
  opts: Readonly<Record<string, string>> | null,
): VolumeMount | undefined {
  if (!opts || Object.keys(opts).length === 0) return undefined;
  for (const k of Object.keys(opts)) {
    if (!OPTION_KEYS.includes(k)) {
      throw new Error(
        `invalid option key: ${JSON.stringify(k)} (the local driver takes type, device and o)`,
      );
    }
  }
  const type = opts.type ?? "";
  const device = opts.device ?? "";
  if (!type) throw new Error(`missing required option: "type"`);
  if (!device) throw new Error(`missing required option: "device"`);
  if (/[\0\n]/.test(type + device + (opts.o ?? ""))) {
    throw new Error("invalid volume options: no NUL or newline in them");
  }
  let flags = 0;
  const data: string[] = [];
  for (const word of (opts.o ?? "").split(",").filter(Boolean)) {
    const f = MOUNT_FLAG_OPTIONS[word];
    if (f) flags = f.set ? flags | f.flag : flags & ~f.flag;
    else if (PROPAGATION_FLAGS[word] !== undefined || word === "remount") {
      throw new Error(`invalid volume option o=${opts.o}: ${word} is not for a volume's mount`);
    } else data.push(word);
  }
  const bind = (flags & MS.BIND) !== 0;
  if (type === "none" && !bind) {
    throw new Error(`invalid volume options: type=none mounts nothing without o=bind (or rbind)`);
  }
  if (bind && !device.startsWith("/")) {
    throw new Error(
      `invalid volume options: a bind's device must be an absolute path, not ${device}`,
    );
  }
  return { source: device, type, flags, data: data.join(",") };
}

/** A volume that does not exist (docker's `No such volume`). */
export class NoSuchVolumeError extends Error {
  constructor(readonly volume: string) {
    super(`No such volume: ${volume}`);
    this.name = "NoSuchVolumeError";
  }
}

/** A volume that a recorded container still refers to. */
export class VolumeInUseError extends Error {
  constructor(readonly volume: string, readonly container: string) {
    super(`volume is in use: ${volume} (container ${container})`);
    this.name = "VolumeInUseError";
  }
}

/** Hidden work names; they never match NAME (it cannot start with a dot). */
const TMP_PREFIX = ".tmp-";

function checkName(name: string): void {
  if (isVolumeName(name)) return;
  if (name.length > VOLUME_NAME_MAX) {
    throw new Error(
      `invalid volume name ${
        JSON.stringify(name.slice(0, 20) + "...")
      }: longer than ${VOLUME_NAME_MAX} characters`,
    );
  }
  throw new Error(
    `invalid volume name ${
      JSON.stringify(name)
    }: only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed, at least 2 characters; ` +
      `to mount a host directory, give its absolute path`,
  );
}

/** RFC 3339 to the second, as docker writes CreatedAt. */
function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Takes an exclusive lock, waiting for it on this thread: the store's API is
 * synchronous, and every holder keeps the lock only for a few file operations
 * (or one volume's deletion), so polling costs little.
 */
function lockSync(path: string): FileLock {
  for (let wait = 1;; wait = Math.min(wait * 2, 50)) {
    const lock = FileLock.try(path, "exclusive");
    if (lock) return lock;
    Atomics.wait(sleepCell, 0, 0, wait);
  }
}

/** Whether something is mounted right on `path` in this mount namespace. */
function isMountPoint(path: string): boolean {
  let real: string;
  try {
    real = Deno.realPathSync(path);
  } catch {
    return false;
  }
  return mountPoints().includes(real);
}

/** mount(2) of a volume's options on its Mountpoint. */
function mountAt(m: VolumeMount, target: string): void {
  sys(
    "mount",
    `${m.source} on ${target} (type ${m.type})`,
    addressOf(cString(m.source)),
    addressOf(cString(target)),
    addressOf(cString(m.type)),
    m.flags,
    m.data ? addressOf(cString(m.data)) : 0,
  );
}

function isNotFound(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

/** The volumes under one store root. */
export class VolumeStore {
  /** `<root>/volumes`. */
  readonly dir: string;

  constructor(readonly root: string) {
    this.dir = `${root.replace(/\/+$/, "")}/volumes`;
  }

  #path(name: string): string {
    return `${this.dir}/${name}`;
  }

  /** Runs `fn` holding the store's lock (created with the directory when missing). */
  #locked<T>(fn: () => T): T {
    Deno.mkdirSync(this.dir, { recursive: true, mode: 0o711 });
    const lock = lockSync(`${this.dir}/.lock`);
    try {
      return fn();
    } finally {
      lock.release();
    }
  }

  /**
   * Deletes hidden leftovers: a crashed create's half-built volume or a crashed
   * remove's renamed one. Called holding the lock, so none of them is being
   * built right now. Best effort: one still mounted is left for later.
   */
  #sweep(): void {
    for (const e of Deno.readDirSync(this.dir)) {
      if (!e.isDirectory || !e.name.startsWith(TMP_PREFIX)) continue;
      try {
        removeTree(`${this.dir}/${e.name}`);
      } catch { /* kept: removeTree refuses while something is mounted below it */ }
    }
  }

  /**
   * Creates a volume (a random 64-hex name when none is given); a volume that
   * already exists is returned as it is, labels unchanged, as docker does.
   */
  create(
    name?: string,
    labels: Record<string, string> = {},
    options: Record<string, string> = {},
  ): Volume {
    const n = name ?? randomHex(32); // docker's anonymous volumes: 64 hex digits
    checkName(n);
    volumeMount(options); // checked before anything is made
    return this.#locked(() => {
      this.#sweep();
      const existing = this.#read(n);
      if (existing) return existing;
      const tmp = Deno.makeTempDirSync({ dir: this.dir, prefix: TMP_PREFIX });
      try {
        // Searchable by all: a container whose root is remapped must reach _data.
        Deno.chmodSync(tmp, 0o711);
        Deno.mkdirSync(`${tmp}/_data`);
        Deno.chmodSync(`${tmp}/_data`, 0o755);
        const v: Volume = {
          Name: n,
          Driver: "local",
          Mountpoint: `${this.#path(n)}/_data`,
          CreatedAt: now(),
          Labels: { ...labels },
          Options: Object.keys(options).length > 0 ? { ...options } : null,
          Scope: "local",
        };
        Deno.writeTextFileSync(`${tmp}/volume.json`, JSON.stringify(v, null, 2) + "\n", {
          mode: 0o600,
        });
        Deno.renameSync(tmp, this.#path(n));
        return v;
      } catch (e) {
        try {
          removeTree(tmp);
        } catch { /* swept by a later create or prune */ }
        throw e;
      }
    });
  }

  /**
   * Reads a volume's record; undefined when there is no volume by that name.
   * A record that cannot be read is an error. So, when `strict`, is a
   * directory there without a record: ctr never made it, and taking it over
   * (or deleting it) could lose someone's data; listing merely skips it.
   */
  #read(name: string, strict = true): Volume | undefined {
    const dir = this.#path(name);
    let text: string;
    try {
      text = Deno.readTextFileSync(`${dir}/volume.json`);
    } catch (e) {
      if (!isNotFound(e)) {
        throw new Error(`Cannot read ${dir}/volume.json: ${(e as Error).message}`);
      }
      let st: Deno.FileInfo;
      try {
        st = Deno.lstatSync(dir);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
      if (!strict) return undefined;
      throw new Error(
        `${dir} is not a volume: it is a ${
          st.isDirectory ? "directory" : "file"
        } without volume.json; remove it by hand if it is not needed`,
      );
    }
    let j: Partial<Volume>;
    try {
      j = JSON.parse(text);
    } catch (e) {
      throw new Error(`Cannot read ${dir}/volume.json: ${(e as Error).message}`);
    }
    return {
      Name: name,
      Driver: "local",
      // Derived, not taken from the record: the store may have moved since.
      Mountpoint: `${dir}/_data`,
      CreatedAt: typeof j.CreatedAt === "string" ? j.CreatedAt : "",
      Labels: j.Labels && typeof j.Labels === "object" ? j.Labels : {},
      Options: j.Options && typeof j.Options === "object" ? j.Options : null,
      Scope: "local",
    };
  }

  /** A volume by name; throws NoSuchVolumeError when there is none. */
  get(name: string): Volume {
    // An invalid name cannot name a volume (and must never reach a path).
    const v = isVolumeName(name) ? this.#read(name) : undefined;
    if (!v) throw new NoSuchVolumeError(name);
    return v;
  }

  /** Every volume, by name. */
  list(): Volume[] {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(this.dir)];
    } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
    const out: Volume[] = [];
    for (const e of entries) {
      // Hidden names (.lock, .tmp-*) never match a volume name.
      if (!e.isDirectory || !isVolumeName(e.name)) continue;
      const v = this.#read(e.name, false);
      if (v) out.push(v);
    }
    return out.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  }

  /**
   * Deletes a volume and its data. Refused while `inUseBy(name)` names a
   * container (docker refuses even with --force), and while anything is
   * mounted on or below the volume's directory in this mount namespace
   * (deleting through a mount would delete what is mounted there).
   */
  remove(name: string, inUseBy: (name: string) => string | undefined): void {
    this.#locked(() => this.#remove(name, inUseBy));
  }

  #remove(name: string, inUseBy: (name: string) => string | undefined): void {
    this.get(name);
    const user = inUseBy(name);
    if (user !== undefined) {
      throw new VolumeInUseError(name, /^[0-9a-f]{64}$/.test(user) ? user.slice(0, 12) : user);
    }
    const dir = this.#path(name);
    // No container refers to it: what its options mounted goes first (never its device's data).
    this.#unmount(name);
    const real = Deno.realPathSync(dir);
    const busy = mountPoints().filter((m) => m === real || m.startsWith(real + "/"));
    if (busy.length > 0) {
      throw new Error(
        `Refusing to remove volume ${name}: ${busy.join(", ")} is mounted on or below ${dir}`,
      );
    }
    // Hidden first, so that it leaves `list` at once even if the deletion is cut short.
    const gone = `${this.dir}/${TMP_PREFIX}rm-${randomHex(6)}`;
    Deno.renameSync(dir, gone);
    removeTree(gone);
  }

  /**
   * Mounts what a volume's options say on its Mountpoint, for a container
   * about to start, unless it is mounted already (another container uses
   * it: they share it, as with docker). A volume without options needs
   * nothing. The container's record names the volume before this is done,
   * so whoever releases it finds the mount (see unmountUnused).
   */
  mountFor(name: string): void {
    const v = this.get(name);
    const m = volumeMount(v.Options);
    if (!m) return;
    this.#locked(() => {
      if (isMountPoint(v.Mountpoint)) return;
      mountAt(m, v.Mountpoint);
    });
  }

  /**
   * Unmounts a volume's options' mount when no live container but `except`
   * uses it (`users`: the containers that name it and are running or being
   * started). Called as a container is released, by prune and by rm.
   */
  unmountUnused(name: string, users: () => number): void {
    this.#locked(() => {
      if (users() === 0) this.#unmount(name);
    });
  }

  /** Unmounts what is mounted on a volume's Mountpoint, if anything (the lock held). */
  #unmount(name: string): void {
    const data = `${this.#path(name)}/_data`;
    if (!isMountPoint(data)) return;
    sys("umount2", data, addressOf(cString(data)), 0);
  }

  /**
   * Deletes every volume not in `inUse`; returns the names removed, the bytes
   * their data held, and one message for each volume that could not be
   * removed (the others are removed all the same).
   */
  prune(inUse: Set<string>): { removed: string[]; bytes: number; errors: string[] } {
    return this.#locked(() => {
      this.#sweep();
      const removed: string[] = [];
      const errors: string[] = [];
      let bytes = 0;
      for (const v of this.list()) {
        if (inUse.has(v.Name)) continue;
        try {
          const size = treeSize(`${this.#path(v.Name)}/_data`);
          this.#remove(v.Name, () => undefined);
          removed.push(v.Name);
          bytes += size;
        } catch (e) {
          errors.push(`${v.Name}: ${(e as Error).message}`);
        }
      }
      return { removed, bytes, errors };
    });
  }
}

/**
 * How many containers but `except` use volume `name` now: those that name it
 * and run, or whose starter or watcher is alive (being started, or ending).
 */
export function liveUsers(stateDir: string, name: string, except?: string): number {
  return new StateDir(stateDir).list().filter((s) =>
    s.id !== except && (s.volumes ?? []).includes(name) &&
    (isAlive(s) || (s.watcher !== undefined && isAlive(s.watcher)))
  ).length;
}

/** Mounts the options' mounts of a starting container's volumes (see VolumeStore.mountFor). */
export function mountVolumes(root: string, names: readonly string[]): void {
  if (names.length === 0) return;
  const store = new VolumeStore(root);
  for (const name of names) store.mountFor(name);
}

/**
 * As a container is released: unmounts its volumes' options' mounts that no
 * other live container uses. A volume removed since is skipped.
 */
export function releaseVolumes(
  s: { id: string; root?: string; volumes?: readonly string[] },
  stateDir: string,
): void {
  if (!s.volumes?.length) return;
  const store = new VolumeStore(s.root ?? "/var/lib/ctr");
  for (const name of s.volumes) {
    let v: Volume;
    try {
      v = store.get(name);
    } catch (e) {
      if (e instanceof NoSuchVolumeError) continue;
      throw e;
    }
    if (v.Options) store.unmountUnused(name, () => liveUsers(stateDir, name, s.id));
  }
}

/**
 * Which containers refer to which volumes: volume name to container ids, from
 * every state file in `stateDir`. Exited containers count: they may start again.
 */
export function volumesInUse(stateDir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of new StateDir(stateDir).list()) {
    for (const name of s.volumes ?? []) {
      const ids = out.get(name);
      if (ids) ids.push(s.id);
      else out.set(name, [s.id]);
    }
  }
  return out;
}

/**
 * The host directory for the source of a `-v SRC:DST` mount. An absolute SRC
 * is a host path (a bind mount) and comes back as it is; anything else must be
 * a volume name, and the volume is created when missing (as docker does).
 * The volume is not marked in use by this: that happens when the container's
 * state, listing it in `volumes`, is written.
 */
export function resolveVolumeMount(root: string, source: string): string {
  if (source.startsWith("/")) return source;
  return new VolumeStore(root).create(source).Mountpoint;
}
