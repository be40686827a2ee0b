/**
 * Image references as docker writes them: `alpine` is
 * `docker.io/library/alpine:latest`; `host:5000/ns/name:tag`,
 * `localhost/name`, `name@sha256:<hex>` and `name:tag@sha256:<hex>` are the
 * other forms. Parsing follows the grammar of the distribution project's
 * reference package, with one error sentence per mistake. Pure: no I/O.
 * @module
 */

import { type Digest, digestProblem } from "./digest.ts";

/** The registry that short names belong to. */
export const DEFAULT_DOMAIN = "docker.io";
/** The tag a name without tag or digest gets. */
export const DEFAULT_TAG = "latest";
const LEGACY_DOMAIN = "index.docker.io";
const OFFICIAL_PREFIX = "library/";
const NAME_MAX = 255;
const TAG_MAX = 128;

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]*$/;
const HEX64 = /^[a-f0-9]{64}$/;

/** A parsed, normalized image reference. */
export interface Reference {
  /** The registry host (and port): `docker.io`, `localhost:5000`. */
  readonly domain: string;
  /** The repository path inside the registry: `library/alpine`. */
  readonly path: string;
  /** The tag, when there is one. */
  readonly tag?: string;
  /** The manifest digest, when there is one. */
  readonly digest?: Digest;
}

/** A reference string that does not follow the grammar. */
export class InvalidReferenceError extends Error {
  constructor(ref: string, why: string) {
    super(`Invalid reference ${JSON.stringify(ref)}: ${why}`);
    this.name = "InvalidReferenceError";
  }
}

/** A name's registry and the rest (`127.0.0.1:5000/a/b` → `127.0.0.1:5000`, `a/b`; `a/b` → `docker.io`, `a/b`). */
export function splitDomain(name: string): [string, string] {
  const i = name.indexOf("/");
  const first = i === -1 ? "" : name.slice(0, i);
  // As docker: the first component is a registry only when it looks like a host.
  const isHost = i !== -1 &&
    (/[.:]/.test(first) || first === "localhost" || first.toLowerCase() !== first);
  if (!isHost) return [DEFAULT_DOMAIN, name];
  return [first === LEGACY_DOMAIN ? DEFAULT_DOMAIN : first, name.slice(i + 1)];
}

/**
 * Parses and normalizes a reference; a bare name keeps no tag (see
 * {@linkcode withDefaultTag}). Throws InvalidReferenceError saying what is wrong.
 */
export function parseReference(ref: string): Reference {
  const bad = (why: string) => new InvalidReferenceError(ref, why);
  if (ref === "") throw bad("the reference is empty");
  if (HEX64.test(ref)) {
    throw bad("a 64-digit hexadecimal string is an image ID, not a repository name");
  }
  let rest = ref;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    const d = rest.slice(at + 1);
    const problem = digestProblem(d);
    if (problem) throw bad(`bad digest: ${problem}`);
    digest = d as Digest;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === "") throw bad("the tag is empty");
    if (tag.length > TAG_MAX) throw bad(`the tag is longer than ${TAG_MAX} characters`);
    if (!TAG.test(tag)) {
      throw bad(
        `the tag ${JSON.stringify(tag)} may hold only letters, digits, '_', '.' and '-'` +
          ` (not first)`,
      );
    }
  }
  if (rest === "") throw bad("the repository name is empty");
  let [domain, path] = splitDomain(rest);
  if (!DOMAIN.test(domain)) throw bad(`the registry ${JSON.stringify(domain)} is not a host name`);
  if (path.toLowerCase() !== path) {
    throw bad(`the repository name ${JSON.stringify(path)} must be lowercase`);
  }
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = OFFICIAL_PREFIX + path;
  for (const c of path.split("/")) {
    if (!PATH_COMPONENT.test(c)) {
      throw bad(
        c === ""
          ? "the repository name has an empty component"
          : `the name component ${JSON.stringify(c)} may hold only a-z, 0-9 and single` +
            ` separators ('.', '_', '__', '-') between them`,
      );
    }
  }
  const full = `${domain}/${path}`;
  if (full.length > NAME_MAX) {
    throw bad(`the repository name is longer than ${NAME_MAX} characters`);
  }
  return { domain, path, ...(tag !== undefined && { tag }), ...(digest && { digest }) };
}

/** The reference with tag `latest` when it has neither tag nor digest, as docker does. */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** Parses a reference and gives a bare name the `latest` tag. */
export function normalizeReference(ref: string): Reference {
  return withDefaultTag(parseReference(ref));
}

/** The full repository name: `docker.io/library/alpine`. */
export function repository(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full reference string: `docker.io/library/alpine:latest`. */
export function formatReference(ref: Reference): string {
  return repository(ref) + (ref.tag !== undefined ? `:${ref.tag}` : "") +
    (ref.digest ? `@${ref.digest}` : "");
}

/** The repository as docker shows it: `alpine`, `user/app`, `quay.io/x/y`. */
export function familiarRepository(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repository(ref);
  const rest = ref.path.slice(OFFICIAL_PREFIX.length);
  return ref.path.startsWith(OFFICIAL_PREFIX) && !rest.includes("/") ? rest : ref.path;
}

/** The reference as docker shows it: `alpine:latest`, `localhost:5000/app@sha256:...`. */
export function familiarString(ref: Reference): string {
  return familiarRepository(ref) + (ref.tag !== undefined ? `:${ref.tag}` : "") +
    (ref.digest ? `@${ref.digest}` : "");
}

/** The short form of a full reference string (`docker.io/library/a:1` → `a:1`). */
export function familiarize(ref: string): string {
  return familiarString(parseReference(ref));
}
