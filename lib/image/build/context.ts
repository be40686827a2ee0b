/**
 * The build context: a directory (or a tar from stdin, unpacked with the
 * layer extractor's checks against hostile archives: no `..`, no absolute
 * names, no links out, nothing through a symlink) and its `.dockerignore`
 * (moby/patternmatcher rules: `**`, `!` exceptions, the last match wins, a
 * pattern matching a directory excludes what it holds). Excluded paths are
 * invisible to COPY and ADD; the builder itself always reads the Dockerfile
 * and the .dockerignore, which COPY sees only when they are not excluded.
 * The context is walked without ever following a symlink.
 *
 * Also the entry point of COPY/ADD: planning (copy.ts), ADD's archives and
 * URLs (add.ts), owners and modes (ownership.ts), writing (staging.ts).
 * @module
 */

import { extractLayer } from "../layer.ts";
import { cleanPath, type MatchInfo, parseDockerignore, PatternMatcher } from "./_match.ts";
import { isOpaque, LayeredRoot, type RootEntry } from "./_root.ts";
import type { CopySource } from "./copy.ts";

export { cleanPath, goMatch, parseDockerignore, PatternMatcher } from "./_match.ts";
export { isOpaque, LayeredRoot };
export type { RootEntry };
export * from "./copy.ts";
export * from "./add.ts";
export * from "./ownership.ts";
export { applyCopy } from "./staging.ts";

/**
 * The .dockerignore patterns of a context: `DOCKERFILE.dockerignore` beside
 * the Dockerfile when there is one (BuildKit's per-Dockerfile ignore file
 * wins), else `DIR/.dockerignore`, else none.
 */
export function readDockerignore(contextDir: string, dockerfile?: string): string[] {
  const candidates = [
    ...(dockerfile ? [`${dockerfile}.dockerignore`] : []),
    `${contextDir}/.dockerignore`,
  ];
  for (const path of candidates) {
    try {
      return parseDockerignore(Deno.readTextFileSync(path));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return [];
}

/** One entry of a walked context. */
export interface ContextEntry {
  /** Relative slash path. */
  readonly path: string;
  readonly hostPath: string;
  readonly info: Deno.FileInfo;
}

/** A build context directory with its .dockerignore. */
export class BuildContext {
  /** The context as a root for COPY/ADD. */
  readonly root: LayeredRoot;
  /** Its .dockerignore patterns. */
  readonly ignore: PatternMatcher;

  private constructor(readonly dir: string, patterns: readonly string[]) {
    this.root = new LayeredRoot([dir]);
    this.ignore = new PatternMatcher(patterns);
  }

  /**
   * Opens a context directory with its .dockerignore (or the one of the
   * Dockerfile at `opts.dockerfile`, a host path, when it has its own).
   */
  static open(dir: string, opts: { dockerfile?: string } = {}): BuildContext {
    const st = Deno.statSync(dir);
    if (!st.isDirectory) throw new Error(`The build context ${dir} is not a directory`);
    return new BuildContext(dir.replace(/\/+$/, "") || "/", readDockerignore(dir, opts.dockerfile));
  }

  /** Whether a relative path is excluded by .dockerignore. */
  excluded(path: string): boolean {
    const p = cleanPath(path.replace(/^\/+/, ""));
    return p !== "." && this.ignore.matches(p);
  }

  /** As a source for COPY/ADD: excluded paths invisible, owners made root's. */
  source(): CopySource {
    return { root: this.root, ignore: this.ignore, keepOwners: false };
  }

  /**
   * The entries that are not excluded, depth first in name order, never
   * following a symlink. An excluded directory is skipped unless an
   * exception (`!pattern`) may re-include something below it.
   */
  *walk(): Generator<ContextEntry> {
    yield* this.#walk("", undefined);
  }

  *#walk(rel: string, parent: MatchInfo | undefined): Generator<ContextEntry> {
    const host = rel === "" ? this.dir : `${this.dir}/${rel}`;
    const names = [...Deno.readDirSync(host)].map((e) => e.name).sort();
    for (const name of names) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const [excluded, info] = this.ignore.empty
        ? [false, []]
        : this.ignore.match(path, parent ?? []);
      const st = Deno.lstatSync(`${this.dir}/${path}`);
      if (!excluded) yield { path, hostPath: `${this.dir}/${path}`, info: st };
      if (st.isDirectory && (!excluded || this.ignore.exclusions)) yield* this.#walk(path, info);
    }
  }
}

/**
 * Unpacks a tar build context (any compression) into `dir`, which must not
 * exist: hostile entries are refused and nothing is left on failure.
 * `.wh.` names are ordinary files here.
 */
export async function unpackContext(
  source: ReadableStream<Uint8Array>,
  dir: string,
): Promise<{ warnings: readonly string[] }> {
  const info = await extractLayer(source, dir, { plain: true });
  return { warnings: info.warnings };
}
